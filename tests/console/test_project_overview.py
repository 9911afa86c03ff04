"""A project's overview in the browser, for each project type: the base URL and copyable snippets for that
type, the type's own objects, tokens, effective guardrails, webhooks and the project's own charts."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from credentials.models import Credential, OAuthConnection, ProviderAssignment
from gateways.ai.models import AIEndpoint, ModelAlias
from gateways.guardrails.models import GuardrailRule
from gateways.http.models import ApiEndpoint
from gateways.mcp.models import McpServer
from tests.gateways.mcp.upstreams import Upstream, build_beta
from webhooks.models import Webhook


@pytest.fixture(scope="module")
def mcp_upstream() -> Iterator[Upstream]:
    server = Upstream(build_beta).start()
    yield server
    server.stop()


@pytest.fixture
def guarded(transactional_db):
    GuardrailRule.objects.create(name="no-secrets", kind="secrets", action="block")


def _open(page, project, shoot, name: str) -> str:
    page.goto(f"/admin/projects/project/{project.uuid}/overview/")
    assert page.locator("h1").inner_text().startswith(project.name)
    base = page.locator("[data-base-url]").inner_text()
    assert base.endswith(f"/api/{project.uuid}")
    assert page.locator("svg.chart").count() == 4
    shoot(page, name)
    return base


def _snippets(page) -> dict[str, str]:
    heads = page.locator(".snippet .snippet-head").all_inner_texts()
    codes = page.locator(".snippet pre").all_inner_texts()
    return {h.replace("Copy", "").strip(): c for h, c in zip(heads, codes, strict=True)}


def test_ai_gateway_overview(console_page, make_project, make_token, guarded, offline, page_errors, shoot):
    project = make_project("Chat project", project_type="ai_gateway")
    credential = Credential.objects.create(
        provider="openai", name="openai-main", api_key="sk-test-123456789012345"
    )
    ProviderAssignment.objects.create(project=project, provider="openai", credential=credential)
    ModelAlias.objects.create(project=project, alias="fast", target="openai:gpt-4o-mini")
    AIEndpoint.objects.create(
        project=project,
        slug="summarise",
        chain=[{"provider": "openai", "model": "gpt-4o-mini"}],
        user_prompt="{{text}}",
    )
    make_token(project, name="backend", scopes=["ai"])
    page = console_page
    base = _open(page, project, shoot, "ai-gateway")
    snippets = _snippets(page)
    assert set(snippets) == {
        "curl: chat completion",
        "Python: the openai SDK",
        "curl: run an AI endpoint",
        "MCP client configuration (JSON)",
    }
    assert f'base_url="{base}/v1"' in snippets["Python: the openai SDK"]
    assert '"model": "fast"' in snippets["curl: chat completion"]
    assert f"{base}/ai/summarise" in snippets["curl: run an AI endpoint"]
    assert (
        json.loads(snippets["MCP client configuration (JSON)"])["mcpServers"][project.slug]["url"]
        == f"{base}/mcp"
    )
    assert "summarise" in page.locator("[data-section=ai-endpoints]").inner_text()
    assert "openai:gpt-4o-mini" in page.locator("[data-section=aliases]").inner_text()
    assert "openai-main" in page.locator("[data-section=assignments]").inner_text()
    assert "backend" in page.locator("[data-section=tokens]").inner_text()
    assert "no-secrets" in page.locator("[data-section=guardrails]").inner_text()
    assert page.locator("[data-section=api-endpoints]").count() == 0
    assert offline == [] and page_errors == []  # the copy script and styles came from the gateway


def test_ai_wrapper_overview(console_page, make_project, shoot):
    project = make_project("Wrapped prompt", project_type="ai_wrapper")
    AIEndpoint.objects.create(
        project=project,
        slug="classify",
        chain=[{"provider": "openai", "model": "gpt-4o-mini"}],
        user_prompt="{{x}}",
    )
    page = console_page
    _open(page, project, shoot, "ai-wrapper")
    assert set(_snippets(page)) == {"curl: run an AI endpoint", "MCP client configuration (JSON)"}
    assert "classify" in page.locator("[data-section=ai-endpoints]").inner_text()
    assert page.locator("[data-section=aliases]").count() == 0


def test_api_gateway_overview(console_page, make_project, shoot):
    project = make_project("Orders API", project_type="api_gateway")
    connection = OAuthConnection.objects.create(
        project=project, name="github", provider="github", client_id="abc"
    )
    ApiEndpoint.objects.create(
        project=project,
        slug="orders",
        upstream_url="https://orders.example.com/v2",
        oauth_connection=connection,
    )
    Webhook.objects.create(
        project=project, url="https://hooks.example.com/pg", events=["upstream.down"], secret="whsec_x"
    )
    page = console_page
    base = _open(page, project, shoot, "api-gateway")
    assert _snippets(page)["curl: call an API endpoint"].startswith(f"curl {base}/proxy/orders/")
    endpoints = page.locator("[data-section=api-endpoints]").inner_text()
    assert "orders" in endpoints and "https://orders.example.com/v2" in endpoints
    assert "github" in page.locator("[data-section=oauth-connections]").inner_text()
    assert "https://hooks.example.com/pg" in page.locator("[data-section=webhooks]").inner_text()


def test_mcp_gateway_overview_lists_the_tool_catalogue(console_page, make_project, mcp_upstream, shoot):
    project = make_project("Tools hub", project_type="mcp_gateway")
    McpServer.objects.create(project=project, prefix="beta", upstream_url=mcp_upstream.url(), bearer_token="")
    page = console_page
    base = _open(page, project, shoot, "mcp-gateway")
    config = json.loads(_snippets(page)["MCP client configuration (JSON)"])
    assert config["mcpServers"][project.slug]["url"] == f"{base}/mcp"
    page.click("text=list tools now")
    servers = page.locator("[data-section=mcp-servers]")
    assert "beta__echo" in servers.inner_text() and "beta__shout" in servers.inner_text()
    assert servers.locator(".health").inner_text() == "up"  # listing the tools recorded the health
    shoot(page, "mcp-gateway-tools")
