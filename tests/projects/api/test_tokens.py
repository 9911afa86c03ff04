"""Management API, tokens: plaintext shown once, expiry, revoke, roles, inactive project 409."""

import datetime

import pytest
from django.utils import timezone

from audit.models import AuditLog
from projects import services, tokens
from projects.models import ApiToken, Role
from tests.projects.api.conftest import projects_url

pytestmark = pytest.mark.django_db

WIRE = {
    "id",
    "name",
    "prefix",
    "scopes",
    "expires_at",
    "mcp_tools",
    "max_requests",
    "request_count",
    "status",
    "revoked_at",
    "last_used_at",
    "created_at",
}


def tokens_url(project, tail: str = "") -> str:
    return projects_url(project, f"tokens/{tail}")


def test_create_answers_the_plaintext_once(root_client, project):
    response = root_client.post(tokens_url(project), {"name": "ci", "scopes": ["ai", "admin"]}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == WIRE | {"token"}
    plaintext = body["token"]
    assert tokens.is_well_formed(plaintext) and plaintext.startswith(body["prefix"])
    assert body["scopes"] == ["admin", "ai"] and body["status"] == "active" and body["expires_at"] is None
    row = ApiToken.objects.get(pk=body["id"])
    assert row.digest == tokens.digest(plaintext)
    # Never again: not in the list, not in the detail, not the digest either.
    for response in (
        root_client.get(tokens_url(project)),
        root_client.get(tokens_url(project, f"{row.pk}/")),
    ):
        assert response.status_code == 200
        assert plaintext not in response.content.decode() and row.digest not in response.content.decode()
    detail = root_client.get(tokens_url(project, f"{row.pk}/")).json()
    assert set(detail) == WIRE
    audit = AuditLog.objects.get(action="token_issue")
    assert plaintext not in str(audit.after) and audit.actor_label == "root"


def test_duration_and_expires_at(root_client, project):
    response = root_client.post(
        tokens_url(project), {"name": "day", "scopes": ["ai"], "duration": "1d"}, format="json"
    )
    assert response.status_code == 201
    expires = datetime.datetime.fromisoformat(response.json()["expires_at"])
    assert abs((expires - timezone.now()) - datetime.timedelta(days=1)) < datetime.timedelta(minutes=1)
    assert "duration" not in response.json()
    when = (timezone.now() + datetime.timedelta(days=3)).isoformat()
    response = root_client.post(
        tokens_url(project),
        {"name": "at", "scopes": ["ai"], "expires_at": when, "max_requests": 10},
        format="json",
    )
    assert response.status_code == 201 and response.json()["max_requests"] == 10
    response = root_client.post(
        tokens_url(project), {"name": "never", "scopes": ["ai"], "duration": "never"}, format="json"
    )
    assert response.status_code == 201 and response.json()["expires_at"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "scopes": []}, "scopes"),
        ({"name": "x", "scopes": ["root"]}, "scopes"),
        ({"name": "x", "scopes": "ai"}, "scopes"),
        ({"scopes": ["ai"]}, "name"),
        ({"name": "x", "scopes": ["ai"], "duration": "2w"}, "duration"),
        ({"name": "x", "scopes": ["ai"], "duration": "1d", "expires_at": "2999-01-01T00:00:00Z"}, "duration"),
        ({"name": "x", "scopes": ["ai"], "expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"name": "x", "scopes": ["ai"], "expires_at": "tomorrow"}, "expires_at"),
        ({"name": "x", "scopes": ["ai"], "max_requests": 0}, "max_requests"),
        ({"name": "x", "scopes": ["ai"], "max_requests": "many"}, "max_requests"),
        ({"name": "x", "scopes": ["ai"], "token": "pg_live_mine"}, "token"),
        ({"name": "x", "scopes": ["ai"], "digest": "abc"}, "digest"),
    ],
)
def test_invalid_token_requests_name_their_field(root_client, project, body, field):
    response = root_client.post(tokens_url(project), body, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error" and field in error["fields"]
    assert not ApiToken.objects.exists()


def test_inactive_project_refuses_new_tokens_with_409(root_client, project):
    services.set_active(project, False)
    response = root_client.post(tokens_url(project), {"name": "x", "scopes": ["ai"]}, format="json")
    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "project_inactive",
        "message": "Cannot generate tokens for inactive project",
    }


def test_delete_revokes_and_keeps_the_row(root_client, project, make_token):
    token, _ = make_token(project)
    assert root_client.delete(tokens_url(project, f"{token.pk}/")).status_code == 204
    token.refresh_from_db()
    assert token.revoked_at is not None
    listed = root_client.get(tokens_url(project)).json()["results"]
    assert [(t["id"], t["status"]) for t in listed] == [(token.pk, "revoked")]
    assert AuditLog.objects.filter(action="token_revoke", object_id=str(token.pk)).count() == 1
    # Idempotent: a second revoke changes nothing and writes no second row.
    assert root_client.delete(tokens_url(project, f"{token.pk}/")).status_code == 204
    assert AuditLog.objects.filter(action="token_revoke", object_id=str(token.pk)).count() == 1


def test_revoke_action_answers_the_token(root_client, project, make_token):
    token, _ = make_token(project)
    response = root_client.post(tokens_url(project, f"{token.pk}/revoke/"))
    assert response.status_code == 200
    assert response.json()["status"] == "revoked" and response.json()["revoked_at"]


@pytest.mark.parametrize(
    ("role", "list_", "create", "revoke"),
    [
        (Role.VIEWER, 200, 403, 403),
        (Role.DEVELOPER, 200, 201, 204),
        (Role.ADMIN, 200, 201, 204),
        (Role.OWNER, 200, 201, 204),
    ],
)
def test_role_boundaries(client_for, make_user, project, make_token, role, list_, create, revoke):
    token, _ = make_token(project)
    client = client_for(make_user("member", project, role))
    assert client.get(tokens_url(project)).status_code == list_
    assert (
        client.post(tokens_url(project), {"name": "m", "scopes": ["ai"]}, format="json").status_code == create
    )
    assert client.delete(tokens_url(project, f"{token.pk}/")).status_code == revoke


def test_other_projects_tokens_and_unseen_projects_are_404(client_for, make_user, make_project, make_token):
    mine, theirs = make_project("Mine"), make_project("Theirs")
    their_token, _ = make_token(theirs)
    client = client_for(make_user("dev", mine, Role.DEVELOPER))
    # A token of another project through my project's URL: unknown here.
    assert client.get(tokens_url(mine, f"{their_token.pk}/")).status_code == 404
    assert client.get(tokens_url(mine, "abc/")).status_code == 404
    # A project I cannot see: 404 for every verb, before any role check.
    assert client.get(tokens_url(theirs)).status_code == 404
    assert client.post(tokens_url(theirs), {"name": "x", "scopes": ["ai"]}, format="json").status_code == 404
    assert client.get("/manage/api/v1/projects/not-a-uuid/tokens/").status_code == 404


def test_tokens_cannot_be_edited(root_client, project, make_token):
    token, _ = make_token(project)
    response = root_client.patch(tokens_url(project, f"{token.pk}/"), {"name": "new"}, format="json")
    assert response.status_code == 405 and "PATCH" not in response["Allow"]
