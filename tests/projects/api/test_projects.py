"""Management API, projects: CRUD, role boundaries, immutables, confirmed delete, bad input."""

import uuid

import pytest

from audit.models import AuditLog
from projects.models import Membership, Project, Role
from tests.projects.api.conftest import projects_url

pytestmark = pytest.mark.django_db

NEW = {"name": "Billing bot", "project_type": "ai_gateway", "env": "prod", "metadata": {"team": "billing"}}


def error_of(response) -> dict:
    assert response["Content-Type"].startswith("application/json"), response.content
    return response.json()["error"]


def test_create_makes_the_caller_owner_and_answers_the_wire_fields(client_for, make_user):
    alice = make_user("alice")
    response = client_for(alice).post(projects_url(), NEW, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {
        "uuid",
        "name",
        "slug",
        "description",
        "project_type",
        "env",
        "metadata",
        "allowed_origins",
        "default_ai_provider",
        "is_active",
        "created_at",
        "updated_at",
        "token_count",
    }
    assert body["slug"] == "billing-bot" and body["token_count"] == 0 and body["is_active"] is True
    project = Project.objects.get(uuid=body["uuid"])
    assert Membership.objects.get(project=project).role == Role.OWNER
    row = AuditLog.objects.get(action="create", object_type="projects.project")
    assert (row.actor_type, row.actor_label, str(row.project_uuid)) == ("user", "alice", body["uuid"])


def test_anonymous_is_refused_with_401(client_for, project):
    response = client_for().get(projects_url())
    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"


def test_list_shows_only_visible_projects_and_counts_live_tokens(
    client_for, make_user, make_project, make_token
):
    mine, _theirs = make_project("Mine"), make_project("Theirs")
    make_token(mine)
    revoked, _ = make_token(mine)
    revoked.revoked_at = revoked.created_at
    revoked.save()
    viewer = make_user("viewer", mine, Role.VIEWER)
    results = client_for(viewer).get(projects_url()).json()["results"]
    assert [(p["name"], p["token_count"]) for p in results] == [("Mine", 1)]


def test_unseen_unknown_and_malformed_projects_are_404_alike(client_for, make_user, project):
    stranger = client_for(make_user("stranger"))
    for url in (
        projects_url(project),
        f"/manage/api/v1/projects/{uuid.uuid4()}/",
        "/manage/api/v1/projects/nope/",
    ):
        response = stranger.get(url)
        assert response.status_code == 404, url
        assert error_of(response)["code"] == "not_found"
    # Hidden means hidden for writes too: 404, not 403.
    assert stranger.delete(projects_url(project) + f"?confirm={project.slug}").status_code == 404


@pytest.mark.parametrize(
    ("role", "read", "edit", "delete"),
    [
        (Role.VIEWER, 200, 403, 403),
        (Role.DEVELOPER, 200, 403, 403),
        (Role.ADMIN, 200, 200, 403),
        (Role.OWNER, 200, 200, 204),
    ],
)
def test_role_boundaries(client_for, make_user, project, role, read, edit, delete):
    client = client_for(make_user("member", project, role))
    assert client.get(projects_url(project)).status_code == read
    response = client.patch(projects_url(project), {"description": "changed"}, format="json")
    assert response.status_code == edit
    if edit == 403:
        assert error_of(response)["code"] == "permission_denied"
    assert client.post(projects_url(project, "deactivate/")).status_code == edit
    assert client.delete(projects_url(project) + f"?confirm={project.slug}").status_code == delete


def test_superuser_sees_and_edits_every_project(root_client, project):
    assert root_client.get(projects_url()).json()["count"] == 1
    response = root_client.patch(projects_url(project), {"env": "staging"}, format="json")
    assert response.status_code == 200 and response.json()["env"] == "staging"


def test_put_round_trip_of_a_read_representation_works(root_client, project):
    body = root_client.get(projects_url(project)).json()
    body.update(name="Renamed project", metadata={"a": [1, 2]})
    response = root_client.put(projects_url(project), body, format="json")
    assert response.status_code == 200, response.content
    project.refresh_from_db()
    assert (project.name, project.metadata, project.slug) == ("Renamed project", {"a": [1, 2]}, body["slug"])


@pytest.mark.parametrize(
    ("field", "value"), [("slug", "other-slug"), ("project_type", "mcp_gateway"), ("uuid", str(uuid.uuid4()))]
)
def test_immutable_fields_are_refused_by_name(root_client, project, field, value):
    response = root_client.patch(projects_url(project), {field: value, "name": "Not applied"}, format="json")
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "immutable_field" and list(error["fields"]) == [field]
    project.refresh_from_db()
    assert project.name == "Demo project"


def test_server_assigned_fields_cannot_be_chosen_on_create(root_client):
    response = root_client.post(projects_url(), {**NEW, "slug": "mine"}, format="json")
    assert response.status_code == 400
    assert error_of(response)["code"] == "immutable_field"
    assert not Project.objects.exists()


def test_unknown_fields_are_refused_by_name(root_client, project):
    response = root_client.post(projects_url(), {**NEW, "colour": "red", "owner": "x"}, format="json")
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "validation_error" and set(error["fields"]) == {"colour", "owner"}
    response = root_client.patch(projects_url(project), {"nmae": "typo"}, format="json")
    assert response.status_code == 400 and "nmae" in error_of(response)["fields"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**NEW, "name": "ab"}, "name"),
        ({**NEW, "name": "x" * 101}, "name"),
        ({**NEW, "description": "x" * 501}, "description"),
        ({**NEW, "metadata": [1, 2]}, "metadata"),
        ({**NEW, "metadata": {"k": "nul\x00"}}, "metadata"),
        ({**NEW, "project_type": "toaster"}, "project_type"),
        ({**NEW, "env": "moon"}, "env"),
        ({**NEW, "is_active": "perhaps"}, "is_active"),
        ({"name": "No type"}, "project_type"),
    ],
)
def test_invalid_values_name_their_field(root_client, body, field):
    response = root_client.post(projects_url(), body, format="json")
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "validation_error" and field in error["fields"]


def test_malformed_json_and_non_object_bodies(root_client, project):
    response = root_client.generic("POST", projects_url(), '{"name": ', content_type="application/json")
    assert response.status_code == 400 and error_of(response)["code"] == "malformed_json"
    response = root_client.post(projects_url(), [1, 2], format="json")
    assert response.status_code == 400 and error_of(response)["code"] == "validation_error"


def test_wrong_method_is_405_json_with_allow(root_client, project):
    response = root_client.put(projects_url(), NEW, format="json")
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"
    assert set(response["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    assert root_client.get(projects_url(project, "activate/")).status_code == 405


def test_delete_needs_the_slug_as_confirmation_and_keeps_the_trail(client_for, make_user, project):
    owner = client_for(make_user("owner", project, Role.OWNER))
    for suffix in ("", "?confirm=wrong"):
        response = owner.delete(projects_url(project) + suffix)
        assert response.status_code == 400
        assert error_of(response)["code"] == "confirmation_required"
    assert Project.objects.filter(pk=project.pk).exists()
    assert owner.delete(projects_url(project) + f"?confirm={project.slug}").status_code == 204
    assert not Project.objects.filter(pk=project.pk).exists()
    assert AuditLog.objects.filter(
        project_uuid=project.uuid, action="delete", object_type="projects.project"
    ).exists()


def test_activate_deactivate_are_audited_as_such(root_client, project):
    response = root_client.post(projects_url(project, "deactivate/"))
    assert response.status_code == 200 and response.json()["is_active"] is False
    response = root_client.patch(projects_url(project), {"is_active": True}, format="json")
    assert response.status_code == 200 and response.json()["is_active"] is True
    actions = list(
        AuditLog.objects.filter(project_uuid=project.uuid).order_by("id").values_list("action", flat=True)
    )
    assert actions[-2:] == ["deactivate", "activate"]


def test_revoke_tokens_answers_the_count(client_for, make_user, project, make_token):
    make_token(project)
    make_token(project)
    assert (
        client_for(make_user("viewer", project, Role.VIEWER))
        .post(projects_url(project, "revoke-tokens/"))
        .status_code
        == 403
    )
    developer = client_for(make_user("dev", project, Role.DEVELOPER))
    response = developer.post(projects_url(project, "revoke-tokens/"))
    assert response.status_code == 200 and response.json() == {"revoked": 2}
    row = AuditLog.objects.get(action="tokens_bulk_revoke")
    assert row.extra == {"revoked": 2} and row.actor_label == "dev"


def test_project_quota_is_403(root_client, make_project, settings):
    settings.PROMPTGATE_MAX_PROJECTS = 1
    make_project()
    response = root_client.post(projects_url(), NEW, format="json")
    assert response.status_code == 403 and error_of(response)["code"] == "project_limit_reached"


def test_filters_on_the_project_list(root_client, make_project):
    make_project("Dev one", env="dev")
    make_project("Prod one", env="prod")
    results = root_client.get(projects_url(), {"env": "prod"}).json()["results"]
    assert [p["name"] for p in results] == ["Prod one"]


def test_oversized_body_is_413(root_client, settings):
    settings.PROMPTGATE_MAX_BODY_BYTES = 200
    response = root_client.post(projects_url(), {**NEW, "description": "x" * 300}, format="json")
    assert response.status_code == 413 and error_of(response)["code"] == "payload_too_large"
    assert not Project.objects.exists()


def test_unknown_management_routes_are_json_404(root_client, settings):
    settings.DEBUG = True  # the JSON answer does not depend on Django's debug 404 page
    response = root_client.get("/manage/api/v1/no-such-thing/")
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"


def test_a_refusal_rolls_back_the_whole_request(root_client, project, monkeypatch):
    from projects import services

    def refuse(project, active):
        raise services.PromptGateError("No", code="refused", status=409)

    monkeypatch.setattr(services, "set_active", refuse)
    response = root_client.patch(
        projects_url(project), {"name": "Half written", "is_active": False}, format="json"
    )
    assert response.status_code == 409
    project.refresh_from_db()
    assert project.name == "Demo project"
