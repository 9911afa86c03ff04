"""CORS: browsers call /v1, /ai and /mcp from the project's allowed origins; preflights need no token."""

from __future__ import annotations

import httpx
import pytest

from audit import context
from tests.projects.api.conftest import client_for, projects_url, root_client  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)
APP = "https://app.example.com"
BROWSER_PREFLIGHT = {
    "Origin": APP,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization,content-type,x-stainless-os",
}


def _allow(world, origins: list[str]) -> None:
    world.project.allowed_origins = origins
    with context.bind(actor=context.SYSTEM):
        world.project.save()


@pytest.mark.parametrize("path", ["v1/chat/completions", "v1/responses", "ai/some-endpoint", "mcp"])
def test_browser_preflight_is_answered_without_a_token(world, gateway_proc, path):
    _allow(world, [APP, "http://localhost:5173"])
    gateway_proc.sync_config()
    response = httpx.options(gateway_proc.url(f"/api/{world.uuid}/{path}"), headers=BROWSER_PREFLIGHT)
    assert response.status_code == 204, response.text
    assert response.headers["access-control-allow-origin"] == APP
    assert "POST" in response.headers["access-control-allow-methods"]
    assert response.headers["access-control-allow-headers"] == "authorization,content-type,x-stainless-os"
    assert int(response.headers["access-control-max-age"]) > 0


def test_origins_not_listed_get_no_access(world, gateway_proc):
    url = gateway_proc.url(f"/api/{world.uuid}/v1/chat/completions")
    gateway_proc.sync_config()
    refused = httpx.options(url, headers=BROWSER_PREFLIGHT)  # default: no origin allowed
    assert refused.status_code == 403 and "access-control-allow-origin" not in refused.headers
    assert refused.json()["error"]["code"] == "origin_not_allowed"
    _allow(world, ["https://other.example.com"])
    gateway_proc.sync_config()
    assert httpx.options(url, headers=BROWSER_PREFLIGHT).status_code == 403
    call = httpx.post(
        url,
        headers={"Origin": APP, "Authorization": f"Bearer {world.token}"},
        json={"model": "openai:gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert call.status_code == 200 and "access-control-allow-origin" not in call.headers
    assert call.headers["vary"] == "Origin"  # the project admits some origin: caches must key on it


def test_actual_responses_carry_the_headers_errors_included(world, gateway_proc):
    _allow(world, ["*"])
    gateway_proc.sync_config()
    url = gateway_proc.url(f"/api/{world.uuid}/v1/chat/completions")
    body = {"model": "openai:gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    ok = httpx.post(url, headers={"Origin": APP, "Authorization": f"Bearer {world.token}"}, json=body)
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == APP
    exposed = ok.headers["access-control-expose-headers"]
    assert "Mcp-Session-Id" in exposed and "X-Request-Id" in exposed and "X-PromptGate-Provider" in exposed
    unauthorised = httpx.post(url, headers={"Origin": APP}, json=body)  # a page can read why
    assert unauthorised.status_code == 401 and unauthorised.headers["access-control-allow-origin"] == APP
    mcp = httpx.post(
        gateway_proc.url(f"/api/{world.uuid}/mcp"),
        headers={"Origin": APP},
        json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
    )
    assert mcp.headers["access-control-allow-origin"] == APP


def test_preflight_does_not_open_other_routes(make_project, gateway_proc):
    project = make_project("Plain API", project_type="api_gateway", allowed_origins=[APP])
    gateway_proc.sync_config()
    response = httpx.options(gateway_proc.url(f"/api/{project.uuid}/proxy/x/y"), headers=BROWSER_PREFLIGHT)
    assert response.status_code == 401  # the HTTP proxy forwards OPTIONS like any method: token first


def test_management_api_validates_origins_and_default_provider(root_client, make_project):  # noqa: F811
    project = make_project("Browser app", project_type="ai_gateway")
    url = projects_url(project)
    ok = root_client.patch(
        url,
        {"allowed_origins": [APP, "http://localhost:5173"], "default_ai_provider": "openai"},
        format="json",
    )
    assert ok.status_code == 200, ok.content
    assert ok.json()["allowed_origins"] == [APP, "http://localhost:5173"]
    for bad in (["https://app.example.com/path"], ["app.example.com"], "https://x.com"):
        refused = root_client.patch(url, {"allowed_origins": bad}, format="json")
        assert refused.status_code == 400 and "allowed_origins" in refused.json()["error"]["fields"]
    refused = root_client.patch(url, {"default_ai_provider": "skynet"}, format="json")
    assert refused.status_code == 400 and "default_ai_provider" in refused.json()["error"]["fields"]
