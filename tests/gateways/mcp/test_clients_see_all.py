"""The MCP gateway as real clients see it: one list of every upstream, paging only past the cap, a
refused or down upstream dropping out per server, and per-token tool policy in both protocol eras."""

from __future__ import annotations

import time

import httpx
import pytest

from audit.models import RequestLog
from gateways.mcp.models import McpServer
from projects import services
from tests.gateways.mcp.conftest import modern, modern_headers, post, rpc, sdk_client
from tests.gateways.mcp.test_aggregation import EXPECTED_TOOLS, call
from tests.gateways.mcp.test_protocol import initialize
from tests.servers import GatewayProcess, free_port

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def small_pages(django_db_setup, django_db_blocker):
    """A gateway that pages past 3 items, so the gateway's own cursor is exercised."""
    process = GatewayProcess(PROMPTGATE_MCP_LIST_MAX_ITEMS="3", PROMPTGATE_MCP_LIST_CACHE_SECONDS="2")
    try:
        yield process.start()
    finally:
        process.stop()
        process.cleanup()


async def test_python_sdk_lists_every_upstream_in_one_call(gateways, mcp_project):
    for mode in ("auto", "legacy"):
        async with sdk_client(gateways[0].url(mcp_project.path()), mcp_project.token, mode=mode) as client:
            tools = await client.list_tools()  # once, as users call it: no cursor following
            assert [t.name for t in tools.tools] == EXPECTED_TOOLS, mode
            assert tools.next_cursor is None
            prompts = await client.list_prompts()
            assert [p.name for p in prompts.prompts] == [
                "alpha__greet",
                "gamma__p0",
                "gamma__p1",
                "gamma__p2",
            ]
            resources = await client.list_resources()
            assert len(resources.resources) == 4 and resources.next_cursor is None
            # Python SDK 1.x validated output only for listed tools: every tool is listed now.
            assert (await client.call_tool("gamma__t3", {})).content[0].text == "gamma ran t3"


def test_pages_only_past_the_cap(small_pages, mcp_project):
    items, cursor, pages = [], None, 0
    while True:
        body = modern("tools/list", {"cursor": cursor} if cursor else {})
        response = post(small_pages, mcp_project, body, **modern_headers("tools/list"))
        assert response.status_code == 200, response.text
        result = response.json()["result"]
        assert len(result["tools"]) <= 3
        items += [t["name"] for t in result["tools"]]
        pages += 1
        cursor = result.get("nextCursor")
        if not cursor:
            break
    assert items == EXPECTED_TOOLS and pages == 3


def test_cursors_cannot_be_forged(small_pages, mcp_project):
    first = post(small_pages, mcp_project, modern("tools/list"), **modern_headers("tools/list")).json()
    cursor = first["result"]["nextCursor"]
    for forged in (cursor[:-2] + "xx", "eyJzIjoiZ2FtbWEifQ", "1"):
        body = modern("tools/list", {"cursor": forged})
        response = post(small_pages, mcp_project, body, **modern_headers("tools/list"))
        assert response.status_code == 400 and response.json()["error"]["code"] == -32602
    # A cursor of one list is not a cursor of another.
    body = modern("prompts/list", {"cursor": cursor})
    assert post(small_pages, mcp_project, body, **modern_headers("prompts/list")).status_code == 400


def _wait_health(server: McpServer, status: str) -> McpServer:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        server.refresh_from_db()
        if server.last_status == status:
            break
        time.sleep(0.1)
    return server


def test_refused_and_unreachable_upstreams_fail_alone(gateways, mcp_project):
    # Saved when its name resolved somewhere public, refused now: written past the model's checks, as a
    # DNS change would leave it. 0.0.0.0 is refused before any connection is made.
    refused = McpServer.objects.create(
        project=mcp_project.project, prefix="refused", upstream_url="http://0.0.0.0:9/mcp"
    )
    gone = McpServer.objects.create(
        project=mcp_project.project, prefix="gone", upstream_url=f"http://127.0.0.1:{free_port()}/mcp"
    )
    refused.save()  # a model save bumps the config version: every process sees both at once
    for gateway in gateways:
        gateway.sync_config()
    for gateway in gateways:
        for headers in (modern_headers("tools/list"), {}):
            body = modern("tools/list") if headers else None
            if body is None:  # the session era too
                session, _ = initialize(gateway, mcp_project)
                headers = {"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"}
                body = rpc("tools/list")
            response = post(gateway, mcp_project, body, **headers)
            assert response.status_code == 200, response.text
            assert [t["name"] for t in response.json()["result"]["tools"]] == EXPECTED_TOOLS
    for name, reason in (("refused__x", "ssrf_blocked"), ("gone__x", "upstream_unreachable")):
        response = call(gateways[1], mcp_project, name, {})
        assert response.status_code == 200, response.text  # a JSON-RPC error, never HTTP 400
        error = response.json()["error"]
        assert error["code"] == -32000 and error["data"]["reason"] == reason
        assert "0.0.0.0" not in response.text and "127.0.0.1" not in response.text
    assert "not allowed" in _wait_health(refused, "down").last_error or "address" in refused.last_error
    assert "0.0.0.0" not in refused.last_error
    assert _wait_health(gone, "down").last_status == "down"


def test_test_action_never_names_the_address(mcp_project, root_client):
    server = McpServer.objects.create(
        project=mcp_project.project, prefix="refused", upstream_url="http://0.0.0.0:9/mcp"
    )
    url = f"/manage/api/v1/projects/{mcp_project.project.uuid}/mcp-servers/{server.pk}/test/"
    response = root_client.post(url)
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "ssrf_blocked"
    assert "0.0.0.0" not in response.content.decode()


def test_token_tool_policy_in_both_eras(gateways, mcp_project):
    _, token = services.issue_token(
        mcp_project.project, name="narrow", scopes=["mcp"], mcp_tools=["alpha__*", "gamma__t[12]"]
    )
    narrow = type(mcp_project)(mcp_project.project, token, mcp_project.servers)
    allowed = ["alpha__add", "alpha__echo", "gamma__t1", "gamma__t2"]
    tools = post(gateways[0], narrow, modern("tools/list"), **modern_headers("tools/list")).json()
    assert [t["name"] for t in tools["result"]["tools"]] == allowed
    refused = call(gateways[1], narrow, "beta__echo", {"text": "x"})
    assert refused.status_code == 200
    error = refused.json()["error"]
    assert error["code"] == -32004 and "beta__echo" in error["message"]
    assert error["data"] == {"code": "tool_not_allowed", "tool": "beta__echo"}
    assert call(gateways[1], narrow, "gamma__t2", {}).json()["result"]["content"][0]["text"] == "gamma ran t2"
    session, _ = initialize(gateways[1], narrow)
    headers = {"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"}
    listed = post(gateways[0], narrow, rpc("tools/list"), **headers).json()["result"]["tools"]
    assert [t["name"] for t in listed] == allowed
    body = rpc("tools/call", {"name": "gamma__t3", "arguments": {}}, id=2)
    assert post(gateways[0], narrow, body, **headers).json()["error"]["data"]["code"] == "tool_not_allowed"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rows = RequestLog.objects.filter(project_uuid=narrow.project.uuid, endpoint="gamma__t3")
        if rows.exists():
            break
        time.sleep(0.1)
    row = rows.get()
    assert row.error_code == "tool_not_allowed" and row.attempts == [{"outcome": "refused"}]


def test_token_tool_policy_through_the_management_api(mcp_project, root_client):
    url = f"/manage/api/v1/projects/{mcp_project.project.uuid}/tokens/"
    created = root_client.post(
        url, {"name": "gh", "scopes": ["mcp"], "mcp_tools": ["github__*"]}, format="json"
    )
    assert created.status_code == 201 and created.json()["mcp_tools"] == ["github__*"]
    listed = root_client.get(url).json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert [t["mcp_tools"] for t in rows if t["name"] == "gh"] == [["github__*"]]
    bad = root_client.post(url, {"name": "bad", "scopes": ["mcp"], "mcp_tools": ["a b"]}, format="json")
    assert bad.status_code == 400 and "mcp_tools" in bad.json()["error"]["fields"]


def test_tool_calls_are_recorded_without_arguments(gateways, mcp_project):
    assert call(gateways[0], mcp_project, "beta__shout", {"text": "secret-argument"}).status_code == 200
    deadline = time.monotonic() + 10
    row = None
    while time.monotonic() < deadline and row is None:
        row = RequestLog.objects.filter(project_uuid=mcp_project.project.uuid, endpoint="beta__shout").first()
        time.sleep(0.1)
    assert row is not None
    assert row.provider == "beta" and row.token_prefix and row.latency_ms > 0
    assert row.attempts[0]["upstream"] == "beta" and row.attempts[0]["outcome"] == "ok"
    stored = str({f.name: getattr(row, f.name) for f in RequestLog._meta.fields})
    assert "secret-argument" not in stored


def test_get_without_session_is_405(gateways, mcp_project):
    response = httpx.get(
        gateways[0].url(mcp_project.path()), headers={**mcp_project.auth, "Accept": "text/event-stream"}
    )
    assert response.status_code == 405


def test_a_projects_allowed_origins_open_the_mcp_endpoint_to_browsers(gateways, mcp_project):
    from projects.models import Project

    page = "https://tools.example.org"
    body = rpc(
        "initialize", {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "b"}}
    )
    assert post(gateways[0], mcp_project, body, Origin=page).status_code == 403
    project = Project.objects.get(pk=mcp_project.project.pk)
    project.allowed_origins = [page]
    project.save()  # a model save bumps the config version
    for gateway in gateways:
        gateway.sync_config()
        answered = post(gateway, mcp_project, body, Origin=page)
        assert answered.status_code == 200 and answered.headers["access-control-allow-origin"] == page
        assert "Mcp-Session-Id" in answered.headers["access-control-expose-headers"]
    assert post(gateways[0], mcp_project, body, Origin="https://evil.example").status_code == 403
