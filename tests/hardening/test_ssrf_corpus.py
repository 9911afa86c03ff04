"""Issue 17, points 4 and 5 and the SSRF corpus: every user-controlled URL is checked at save and at
request time, with one code (`ssrf_blocked`) and never the address a name resolved to."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings

from credentials.models import Credential, OAuthConnection
from gateways.http.models import ApiEndpoint
from gateways.mcp.models import McpServer
from tests.gateways.http.conftest import raw_request
from tests.hardening.corpus import corpus, names_the_address
from tests.mock_llm import KEYS
from tests.projects.api.conftest import BASE, projects_url
from tests.servers import running_gateway

REFUSED = corpus("ssrf_urls_refused.txt")
MALFORMED = corpus("urls_malformed_refused.txt")
NO_ALLOW = override_settings(PROMPTGATE_SSRF_ALLOW=[])


def surfaces(project_api, project_mcp) -> dict:
    """Every management API field that takes an outbound URL: (path, body for a URL, model)."""
    return {
        "api_endpoint.upstream_url": (
            projects_url(project_api, "api-endpoints/"),
            lambda url: {"slug": "probe", "upstream_url": url},
            ApiEndpoint,
            "upstream_url",
        ),
        "mcp_server.upstream_url": (
            projects_url(project_mcp, "mcp-servers/"),
            lambda url: {"prefix": "probe", "upstream_url": url},
            McpServer,
            "upstream_url",
        ),
        "oauth.token_url": (
            projects_url(project_api, "oauth-connections/"),
            lambda url: {
                "name": "probe",
                "provider": "custom",
                "client_id": "c",
                "client_secret": "s",
                "authorize_url": "https://93.184.216.34/authorize",
                "token_url": url,
                "auth_method": "client_secret_post",
            },
            OAuthConnection,
            "token_url",
        ),
        "oauth.authorize_url": (
            projects_url(project_api, "oauth-connections/"),
            lambda url: {
                "name": "probe",
                "provider": "custom",
                "client_id": "c",
                "client_secret": "s",
                "authorize_url": url,
                "token_url": "https://93.184.216.34/token",
                "auth_method": "client_secret_post",
            },
            OAuthConnection,
            "authorize_url",
        ),
        "credential.base_url": (
            f"{BASE}/credentials/",
            lambda url: {"provider": "openai", "name": "probe", "api_key": KEYS["openai"], "base_url": url},
            Credential,
            "base_url",
        ),
    }


@pytest.fixture
def targets(make_project):
    return surfaces(make_project("SSRF api"), make_project("SSRF mcp", project_type="mcp_gateway"))


def test_the_corpus_is_substantial():
    assert len(REFUSED) >= 50 and len(MALFORMED) >= 10


@pytest.mark.django_db
@NO_ALLOW
def test_every_url_field_refuses_the_corpus_at_save_with_one_code(root_client, targets):
    tried = refused = 0
    for surface, (path, make_body, model, field) in targets.items():
        for url in REFUSED:
            tried += 1
            response = root_client.post(path, make_body(url), format="json")
            body = response.content.decode()
            assert response.status_code == 400, (surface, url, body[:300])
            error = response.json()["error"]
            assert error["code"] == "ssrf_blocked", (surface, url, error)
            assert field in error["fields"], (surface, url, error)
            assert names_the_address(body, url) is None, (surface, url, body[:300])
            refused += 1
        assert not model.objects.filter(**{field + "__in": REFUSED}).exists(), surface
    print(f"SSRF corpus at save: {tried} probes, {refused} refused with ssrf_blocked")
    assert tried == refused == len(REFUSED) * len(targets)


@pytest.mark.django_db
@NO_ALLOW
def test_every_url_field_refuses_malformed_urls_without_echoing_them(root_client, targets):
    for surface, (path, make_body, _model, field) in targets.items():
        for url in MALFORMED:
            response = root_client.post(path, make_body(url), format="json")
            assert response.status_code == 400, (surface, url, response.content[:300])
            error = response.json()["error"]
            assert field in error.get("fields", {}), (surface, url, error)
            assert "pass@" not in response.content.decode(), (surface, url)


@pytest.mark.django_db
def test_the_allowlist_still_admits_a_private_model_server(root_client):
    body = {"provider": "ollama", "name": "lan", "base_url": "http://192.168.1.20:11434/v1"}
    with override_settings(PROMPTGATE_SSRF_ALLOW=["192.168.1.0/24"]):
        assert root_client.post(f"{BASE}/credentials/", body, format="json").status_code == 201
    with NO_ALLOW:
        body["name"] = "lan2"
        response = root_client.post(f"{BASE}/credentials/", body, format="json")
        assert response.status_code == 400 and response.json()["error"]["code"] == "ssrf_blocked"


# --- request time ------------------------------------------------------------------------------


@pytest.fixture
def probes(api):
    """One API endpoint per corpus URL, saved past the save-time check (as if DNS changed since)."""
    slugs = {}
    for index, url in enumerate(REFUSED):
        slug = f"p{index}"
        api.endpoint(slug, url, validate=False)
        slugs[slug] = url
    return slugs


@pytest.fixture(scope="module")
def strict_gateway(django_db_setup, django_db_blocker):
    """A gateway process with no SSRF allowlist (the shared test gateway admits 127.0.0.0/8)."""
    with running_gateway(PROMPTGATE_SSRF_ALLOW="") as process:
        yield process


def test_the_live_proxy_refuses_the_corpus_at_request_time(api, probes, strict_gateway):
    auth = f"Authorization: Bearer {api.token}\r\n".encode()
    refused = 0
    with NO_ALLOW:
        for slug, url in probes.items():
            status, body = raw_request(strict_gateway.port, api.path(slug, "/x").encode(), headers=auth)
            assert status == 502, (url, status, body[:300])
            assert json.loads(body)["error"]["code"] == "ssrf_blocked", (url, body[:300])
            assert names_the_address(body.decode(), url) is None, (url, body[:300])
            refused += 1
    print(f"SSRF corpus at request time: {len(probes)} probes, {refused} refused")


@pytest.mark.django_db
@NO_ALLOW
def test_the_admin_refuses_an_internal_credential_base_url(admin_user):
    from django.test import Client

    client = Client()
    client.force_login(admin_user)
    for url in ("http://169.254.169.254/latest/", "http://localhost:11434/v1", "http://[::ffff:10.0.0.1]/"):
        form = {
            "provider": "openai",
            "name": "admin-probe",
            "api_key": KEYS["openai"],
            "base_url": url,
            "options": "{}",
        }
        response = client.post("/admin/credentials/credential/add/", form)
        assert response.status_code == 200, url  # the form again, with its error; nothing saved
        errors = " ".join(response.context["adminform"].form.errors["base_url"])
        assert "address" in errors and names_the_address(errors, url) is None, errors
        assert not Credential.objects.filter(name="admin-probe").exists()


AI_SAMPLE = [
    "http://127.0.0.1:9/v1",
    "http://169.254.169.254/v1",
    "http://[::ffff:10.0.0.1]/v1",
    "http://0x7f.1/v1",
    "http://metadata.google.internal/v1",
]


@pytest.fixture
def ai_probes(django_db_blocker):
    """ai_gateway projects whose openai credential points inside (saved past the save-time check)."""
    from audit import context
    from credentials.models import Credential, ProviderAssignment
    from projects import services

    made = []
    with django_db_blocker.unblock(), context.bind(actor=context.SYSTEM):
        for index, url in enumerate(AI_SAMPLE):
            project = services.create_project(name=f"SSRF ai {index} {id(made)}", project_type="ai_gateway")
            _, token = services.issue_token(project, name="probe", scopes=["ai"])
            credential = Credential.objects.create(
                provider="openai", name=f"ssrf-{index}-{id(made)}", api_key=KEYS["openai"], base_url=url
            )
            ProviderAssignment.objects.create(project=project, provider="openai", credential=credential)
            made.append((project, token, url))
    return made


def test_the_ai_data_plane_refuses_internal_base_urls_without_naming_them(ai_probes, strict_gateway):
    import httpx

    body = {"model": "openai:gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    for project, token, url in ai_probes:
        response = httpx.post(
            strict_gateway.url(f"/api/{project.uuid}/v1/chat/completions"),
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert response.status_code == 502, (url, response.text[:300])
        assert "ssrf_blocked" in response.text, (url, response.text[:300])
        assert names_the_address(response.text, url) is None, (url, response.text[:300])
