"""Management API, global provider resources: credentials (write-only key, hint, format, test), templates,
settings; superusers only."""

import pytest
from django.conf import settings
from django.test import override_settings

from audit.models import AuditLog
from credentials.models import Credential, ProviderAssignment
from tests.mock_llm import KEYS
from tests.projects.api.conftest import BASE

pytestmark = pytest.mark.django_db

OPENAI_KEY = "sk-proj-" + "Q" * 40 + "a1b2"


def create(client, **fields):
    body = {"provider": "openai", "name": "main", "api_key": OPENAI_KEY, **fields}
    return client.post(f"{BASE}/credentials/", body, format="json")


def test_create_read_update_never_return_the_key(root_client):
    response = create(root_client, options={"organization": "org-1"})
    assert response.status_code == 201, response.content
    created = response.json()
    assert set(created) == {
        "id",
        "provider",
        "name",
        "api_key_hint",
        "base_url",
        "options",
        "created_at",
        "updated_at",
    }
    assert created["api_key_hint"] == "sk-…a1b2"
    url = f"{BASE}/credentials/{created['id']}/"
    for body in (root_client.get(url).content, root_client.get(f"{BASE}/credentials/").content):
        assert OPENAI_KEY.encode() not in body and b"QQQQ" not in body
    assert Credential.objects.get().api_key == OPENAI_KEY

    rotated = "sk-" + "R" * 44 + "z9y8"
    response = root_client.patch(url, {"api_key": rotated, "name": "main-2"}, format="json")
    assert response.status_code == 200 and response.json()["api_key_hint"] == "sk-…z9y8"
    assert Credential.objects.get().api_key == rotated
    # Without the key, other fields change and the key stays.
    assert root_client.patch(url, {"base_url": "https://gw.example/v1"}, format="json").status_code == 200
    assert Credential.objects.get().api_key == rotated
    trail = AuditLog.objects.filter(object_type="credentials.credential")
    assert trail.count() == 3 and OPENAI_KEY not in str(list(trail.values()))
    assert root_client.delete(url).status_code == 204


@pytest.mark.parametrize(
    ("provider", "key"),
    [("openai", "not-a-key"), ("anthropic", OPENAI_KEY), ("gemini", "AIzaShort"), ("groq", "sk-x")],
)
def test_invalid_key_format(root_client, provider, key):
    response = create(root_client, provider=provider, api_key=key)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["fields"]["api_key"] == ["Invalid API key format"] and key not in response.content.decode()


def test_key_required_except_for_self_hosted_and_base_url_rules(root_client):
    assert create(root_client, api_key=None).status_code == 400
    body = {"provider": "openai", "name": "nokey"}
    assert root_client.post(f"{BASE}/credentials/", body, format="json").status_code == 400
    body = {"provider": "ollama", "name": "local", "base_url": "http://10.0.0.5:11434/v1"}
    with override_settings(PROMPTGATE_SSRF_ALLOW=["10.0.0.0/8"]):  # a model server on the LAN
        assert root_client.post(f"{BASE}/credentials/", body, format="json").status_code == 201
    response = create(root_client, provider="azure", name="az", api_key=KEYS["azure"])
    assert response.status_code == 400 and "base_url" in response.json()["error"]["fields"]
    response = create(
        root_client, provider="azure", name="az", api_key=KEYS["azure"], base_url="https://r.openai.azure.com"
    )
    assert response.status_code == 201


def test_provider_is_fixed_and_unknown_fields_refused(root_client):
    created = create(root_client).json()
    url = f"{BASE}/credentials/{created['id']}/"
    response = root_client.patch(url, {"provider": "groq"}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "immutable_field"
    response = root_client.patch(url, {"api_key_plain": "x"}, format="json")
    assert response.status_code == 400 and "api_key_plain" in response.json()["error"]["fields"]
    assert create(root_client, provider="skynet", name="s").status_code == 400
    assert create(root_client, name="other", options={"a": {"nested": 1}}).status_code == 400


def test_an_assigned_credential_cannot_be_deleted(root_client, make_project):
    created = create(root_client).json()
    project = make_project("AI one", project_type="ai_gateway")
    ProviderAssignment.objects.create(project=project, provider="openai", credential_id=created["id"])
    response = root_client.delete(f"{BASE}/credentials/{created['id']}/")
    assert response.status_code == 409 and response.json()["error"]["code"] == "credential_in_use"


@pytest.fixture
def loopback_allowed():
    saved = settings.PROMPTGATE_SSRF_ALLOW
    settings.PROMPTGATE_SSRF_ALLOW = ["127.0.0.0/8"]
    yield
    settings.PROMPTGATE_SSRF_ALLOW = saved


@pytest.mark.parametrize("provider", ["openai", "azure", "anthropic", "gemini", "groq"])
def test_test_connection_against_the_mock(root_client, mock, loopback_allowed, provider):
    created = create(
        root_client, provider=provider, api_key=KEYS[provider], base_url=mock.base_url(provider)
    ).json()
    response = root_client.post(f"{BASE}/credentials/{created['id']}/test/")
    assert response.status_code == 200, response.content
    assert response.json()["ok"] is True and response.json()["status"] == 200
    assert KEYS[provider] in str(mock.last().headers.values())  # the key went upstream...
    assert KEYS[provider] not in response.content.decode()  # ...and never back


def test_test_connection_failures_name_no_key(root_client, mock, loopback_allowed):
    wrong = "sk-" + "W" * 40 + "tail"
    created = create(root_client, api_key=wrong, base_url=mock.base_url("openai")).json()
    check = root_client.post(f"{BASE}/credentials/{created['id']}/test/").json()
    assert check["ok"] is False and check["status"] == 401
    assert "rejected the credential" in check["message"] and "tail" not in check["message"]
    refused = create(root_client, name="closed", base_url="http://127.0.0.1:9/v1").json()
    check = root_client.post(f"{BASE}/credentials/{refused['id']}/test/").json()
    assert check == {**check, "ok": False, "status": None} and "127.0.0.1" not in check["message"]


def test_test_connection_is_ssrf_checked(root_client, mock):
    with override_settings(PROMPTGATE_SSRF_ALLOW=["127.0.0.0/8"]):  # allowed at save, since withdrawn
        created = create(root_client, base_url=mock.base_url("openai")).json()
    check = root_client.post(f"{BASE}/credentials/{created['id']}/test/").json()
    assert check["ok"] is False and "loopback" in check["message"]
    assert not mock.requests


def test_global_resources_are_superuser_only(client_for, make_user, make_project):
    project = make_project("AI two", project_type="ai_gateway")
    owner = client_for(make_user("owner", project, "owner"))
    for path in ("credentials/", "provider-templates/", "provider-settings/"):
        assert owner.get(f"{BASE}/{path}").status_code == 403
        assert owner.post(f"{BASE}/{path}", {}, format="json").status_code == 403
        assert client_for(None).get(f"{BASE}/{path}").status_code == 401


def test_templates(root_client):
    body = {"name": "fast", "provider": "openai", "model": "gpt-4o-mini", "parameters": {"temperature": 0.1}}
    response = root_client.post(f"{BASE}/provider-templates/", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["enabled"] is True
    bad = {**body, "name": "openai:gpt-4o"}
    assert root_client.post(f"{BASE}/provider-templates/", bad, format="json").status_code == 400
    bad = {**body, "name": "other", "parameters": {"stream": True}}
    assert root_client.post(f"{BASE}/provider-templates/", bad, format="json").status_code == 400
    assert (
        root_client.post(f"{BASE}/provider-templates/", body, format="json").status_code == 400
    )  # name taken
    url = f"{BASE}/provider-templates/{response.json()['id']}/"
    assert root_client.patch(url, {"enabled": False}, format="json").json()["enabled"] is False


def test_provider_settings(root_client):
    response = root_client.post(
        f"{BASE}/provider-settings/", {"provider": "gemini", "enabled": False}, format="json"
    )
    assert response.status_code == 201 and response.json()["enabled"] is False
    again = root_client.post(f"{BASE}/provider-settings/", {"provider": "gemini"}, format="json")
    assert again.status_code == 400
    url = f"{BASE}/provider-settings/{response.json()['id']}/"
    assert root_client.patch(url, {"provider": "openai"}, format="json").status_code == 400
    assert root_client.patch(url, {"enabled": True}, format="json").json()["enabled"] is True
