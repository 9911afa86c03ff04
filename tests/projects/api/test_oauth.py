"""OAuth2 end to end: create_api_client, client-credentials token, bearer calls audited as the client."""

import base64
import io
import json

import pytest
from django.core.management import CommandError, call_command
from oauth2_provider.models import get_application_model
from rest_framework.test import APIClient

from audit.models import AuditLog
from projects.models import Membership, Role

pytestmark = pytest.mark.django_db


def create_client(name: str, username: str) -> dict:
    out = io.StringIO()
    call_command("create_api_client", name, "--user", username, stdout=out)
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])


def bearer_for(credentials: dict) -> APIClient:
    basic = base64.b64encode(f"{credentials['client_id']}:{credentials['client_secret']}".encode()).decode()
    client = APIClient()
    response = client.post(
        "/o/token/", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=f"Basic {basic}"
    )
    assert response.status_code == 200, response.content
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access_token']}")
    return api


def test_create_api_client_prints_the_secret_once_and_stores_a_hash(make_user):
    make_user("alice")
    credentials = create_client("ci-bot", "alice")
    assert set(credentials) == {"client_id", "client_secret"}
    application = get_application_model().objects.get(client_id=credentials["client_id"])
    assert application.client_secret != credentials["client_secret"]
    assert credentials["client_secret"] not in application.client_secret
    assert application.authorization_grant_type == "client-credentials"
    assert application.client_type == "confidential" and application.user.username == "alice"


def test_create_api_client_needs_a_known_user(db):
    with pytest.raises(CommandError, match="No user named"):
        create_client("ci-bot", "ghost")


def test_client_credentials_end_to_end_is_audited_as_the_client(make_user, make_project):
    alice = make_user("alice")
    other = make_project("Not alice's")
    credentials = create_client("ci-bot", "alice")
    api = bearer_for(credentials)

    response = api.post(
        "/manage/api/v1/projects/", {"name": "From CI", "project_type": "api_gateway"}, format="json"
    )
    assert response.status_code == 201, response.content
    project_uuid = response.json()["uuid"]
    # The client acts with its user's roles: alice owns what it created and cannot see the rest.
    assert Membership.objects.get(project__uuid=project_uuid).user == alice
    assert Membership.objects.get(project__uuid=project_uuid).role == Role.OWNER
    assert api.get(f"/manage/api/v1/projects/{other.uuid}/").status_code == 404
    response = api.post(
        f"/manage/api/v1/projects/{project_uuid}/tokens/", {"name": "t", "scopes": ["admin"]}, format="json"
    )
    assert response.status_code == 201
    assert api.post(f"/manage/api/v1/projects/{project_uuid}/deactivate/").status_code == 200

    trail = AuditLog.objects.filter(project_uuid=project_uuid).order_by("id")
    assert {r.action for r in trail} >= {"create", "token_issue", "deactivate"}
    assert {(r.actor_type, r.actor_id, r.actor_label) for r in trail} == {
        ("api_client", credentials["client_id"], "ci-bot")
    }
    # The client reads the trail through the API too, filtered by its own actor type.
    rows = api.get("/manage/api/v1/audit-logs/", {"actor_type": "api_client"}).json()["results"]
    assert rows and {r["actor_label"] for r in rows} == {"ci-bot"}


def test_bad_or_missing_bearer_is_401(db):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    response = api.get("/manage/api/v1/projects/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_client_of_an_inactive_user_is_refused(make_user):
    alice = make_user("alice")
    api = bearer_for(create_client("ci-bot", "alice"))
    alice.is_active = False
    alice.save()
    assert api.get("/manage/api/v1/projects/").status_code == 401
