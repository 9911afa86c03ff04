"""Aggregation through real gateway processes: namespaces, cursors, routing, upstream failures, records."""

from __future__ import annotations

import time

import httpx
import httpx2
import pytest
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client

from audit.models import RequestLog
from gateways.mcp.models import McpServer
from tests.gateways.mcp.conftest import add_server, modern, modern_headers, post, rpc, sdk_client
from tests.gateways.mcp.test_protocol import initialize
from tests.gateways.mcp.upstreams import ALPHA_TOKEN, GAMMA_TOOLS, Upstream, build_beta

pytestmark = pytest.mark.django_db(transaction=True)

EXPECTED_TOOLS = [
    "alpha__add",
    "alpha__echo",
    "beta__echo",
    "beta__shout",
    *[f"gamma__{t}" for t in GAMMA_TOOLS],
]


def list_all(gateway, project, method: str, key: str) -> tuple[list[dict], int]:
    items, cursor, pages = [], None, 0
    while True:
        params = {"cursor": cursor} if cursor else {}
        response = post(gateway, project, modern(method, params), **modern_headers(method))
        assert response.status_code == 200, response.text
        result = response.json()["result"]
        items += result[key]
        pages += 1
        cursor = result.get("nextCursor")
        if not cursor:
            return items, pages


def call(gateway, project, name: str, arguments: dict) -> httpx.Response:
    body = modern("tools/call", {"name": name, "arguments": arguments})
    return post(gateway, project, body, **modern_headers("tools/call", name))


def test_tools_namespaced_in_order_across_pages(gateways, mcp_project):
    tools, pages = list_all(gateways[0], mcp_project, "tools/list", "tools")
    assert [t["name"] for t in tools] == EXPECTED_TOOLS
    assert pages == 1  # every upstream in one answer, gamma's own pages of two walked by the gateway
    # The collision: both echo tools exist, each routed to its own upstream.
    assert (
        call(gateways[0], mcp_project, "alpha__echo", {"text": "x"}).json()["result"]["content"][0]["text"]
        == "alpha:x"
    )
    assert (
        call(gateways[0], mcp_project, "beta__echo", {"text": "x"}).json()["result"]["content"][0]["text"]
        == "beta:x"
    )
    assert (
        call(gateways[1], mcp_project, "gamma__t3", {}).json()["result"]["content"][0]["text"]
        == "gamma ran t3"
    )


def test_unknown_and_denied_tools(gateways, mcp_project):
    McpServer.objects.filter(pk=mcp_project.servers["gamma"].pk).update(tool_deny=["t1"], tool_allow=[])
    mcp_project.servers["gamma"].refresh_from_db()
    mcp_project.servers["gamma"].save()  # a model save bumps the config version
    for gateway in gateways:
        gateway.sync_config()
    tools, _ = list_all(gateways[0], mcp_project, "tools/list", "tools")
    assert "gamma__t1" not in [t["name"] for t in tools] and "gamma__t2" in [t["name"] for t in tools]
    for name in ("gamma__t1", "nobody__t1", "gamma__zzz", "alpha"):
        response = call(gateways[0], mcp_project, name, {})
        assert response.status_code == 400 and response.json()["error"]["code"] == -32602, name
    failed = call(gateways[0], mcp_project, "gamma__t4", {}).json()["result"]
    assert failed["isError"] is True  # a tool's own failure is a result, passed on as is


def test_resources_and_prompts(gateways, mcp_project):
    resources, _ = list_all(gateways[0], mcp_project, "resources/list", "resources")
    uris = [r["uri"] for r in resources]
    assert uris[0] == "mcpgw://alpha/res://alpha/readme"
    assert [u for u in uris if u.startswith("mcpgw://gamma/")] == [
        f"mcpgw://gamma/res://gamma/{i}" for i in range(3)
    ]
    uri = "mcpgw://gamma/res://gamma/2"
    read = post(
        gateways[0],
        mcp_project,
        modern("resources/read", {"uri": uri}),
        **modern_headers("resources/read", uri),
    )
    assert read.json()["result"]["contents"][0] == {"uri": uri, "text": "content of res://gamma/2"}
    prompts, _ = list_all(gateways[0], mcp_project, "prompts/list", "prompts")
    assert [p["name"] for p in prompts] == ["alpha__greet", "gamma__p0", "gamma__p1", "gamma__p2"]
    got = post(
        gateways[1],
        mcp_project,
        modern("prompts/get", {"name": "alpha__greet", "arguments": {"name": "Ann"}}),
        **modern_headers("prompts/get", "alpha__greet"),
    )
    assert got.json()["result"]["messages"][0]["content"]["text"] == "Hello Ann from alpha"
    bad = post(
        gateways[0],
        mcp_project,
        modern("resources/read", {"uri": "res://alpha/readme"}),
        **modern_headers("resources/read", "res://alpha/readme"),
    )
    assert bad.json()["error"]["code"] == -32602


async def test_sdk_client_sees_everything(gateways, mcp_project):
    for mode in ("auto", "legacy"):
        async with sdk_client(gateways[1].url(mcp_project.path()), mcp_project.token, mode=mode) as client:
            names, cursor = [], None
            while True:
                page = await client.list_tools(cursor=cursor)
                names += [t.name for t in page.tools]
                cursor = page.next_cursor
                if not cursor:
                    break
            assert names == EXPECTED_TOOLS
            resource = await client.read_resource("mcpgw://alpha/res://alpha/readme")
            assert resource.contents[0].text == "alpha readme"
            prompt = await client.get_prompt("gamma__p1")
            assert prompt.messages[0].content.text == "prompt p1"


def test_client_token_never_reaches_upstreams(gateways, mcp_project, upstreams):
    list_all(gateways[0], mcp_project, "tools/list", "tools")
    assert (
        call(gateways[0], mcp_project, "alpha__add", {"a": 1, "b": 2}).json()["result"]["content"][0]["text"]
        == "3"
    )
    seen = [h for u in upstreams.values() for h in u.recorder.headers]
    assert seen
    for headers in seen:
        assert all(mcp_project.token not in value for value in headers.values())
    assert {h.get("authorization") for h in upstreams["alpha"].recorder.headers} == {f"Bearer {ALPHA_TOKEN}"}
    assert all("authorization" not in h for h in upstreams["beta"].recorder.headers)


def test_one_request_log_per_tool_call(gateways, mcp_project):
    assert call(gateways[0], mcp_project, "beta__shout", {"text": "a"}).status_code == 200
    assert call(gateways[1], mcp_project, "gamma__t4", {}).status_code == 200
    deadline = time.monotonic() + 10
    rows = []
    while time.monotonic() < deadline:
        rows = list(
            RequestLog.objects.filter(
                project_uuid=mcp_project.project.uuid, endpoint__in=["beta__shout", "gamma__t4"]
            )
        )
        if len(rows) == 2:
            break
        time.sleep(0.2)
    by_name = {row.endpoint: row for row in rows}
    assert set(by_name) == {"beta__shout", "gamma__t4"}
    assert by_name["beta__shout"].gateway == "mcp" and by_name["beta__shout"].status == 200
    assert by_name["beta__shout"].error_code == "" and by_name["beta__shout"].upstream_ms is not None
    assert by_name["gamma__t4"].error_code == "tool_error"


def test_session_continues_on_another_process(gateways, mcp_project, upstreams):
    session, _ = initialize(gateways[0], mcp_project)
    headers = {"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"}
    body = rpc("tools/call", {"name": "beta__echo", "arguments": {"text": "one"}})
    assert (
        post(gateways[0], mcp_project, body, **headers).json()["result"]["content"][0]["text"] == "beta:one"
    )
    body = rpc("tools/call", {"name": "beta__echo", "arguments": {"text": "two"}}, id=2)
    assert (
        post(gateways[1], mcp_project, body, **headers).json()["result"]["content"][0]["text"] == "beta:two"
    )
    # beta speaks the session handshake: the second process reused the upstream session behind ours.
    sessions = {
        h.get("mcp-session-id") for h in upstreams["beta"].recorder.headers if h.get("mcp-session-id")
    }
    assert len(sessions) == 1
    ended = httpx.delete(gateways[1].url(mcp_project.path()), headers={**mcp_project.auth, **headers})
    assert ended.status_code == 200
    assert post(gateways[0], mcp_project, body, **headers).status_code == 404


class RoundRobin(httpx2.AsyncBaseTransport):
    """Sends each request of one SDK client to the next gateway process in turn."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.inner = httpx2.AsyncHTTPTransport()
        self.used: list[int] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        port = self.ports[len(self.used) % len(self.ports)]
        self.used.append(port)
        request.url = request.url.copy_with(port=port)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_sdk_session_alternates_processes(gateways, mcp_project):
    transport = RoundRobin([g.port for g in gateways])
    headers = {"Authorization": f"Bearer {mcp_project.token}"}
    async with httpx2.AsyncClient(transport=transport, headers=headers, timeout=30) as http:
        url = gateways[0].url(mcp_project.path())
        async with Client(streamable_http_client(url, http_client=http), mode="legacy") as client:
            for i in range(4):
                result = await client.call_tool("beta__echo", {"text": str(i)})
                assert result.content[0].text == f"beta:{i}"
    assert set(transport.used) == {g.port for g in gateways}


def test_upstream_session_expired_is_renewed_once(gateways, mcp_project, upstreams):
    session, _ = initialize(gateways[0], mcp_project)
    headers = {"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"}
    body = rpc("tools/call", {"name": "beta__echo", "arguments": {"text": "before"}})
    assert (
        post(gateways[0], mcp_project, body, **headers).json()["result"]["content"][0]["text"]
        == "beta:before"
    )
    upstreams["beta"].restart()  # every upstream session is gone
    upstreams["beta"].recorder.headers.clear()
    body = rpc("tools/call", {"name": "beta__echo", "arguments": {"text": "after"}}, id=2)
    assert (
        post(gateways[1], mcp_project, body, **headers).json()["result"]["content"][0]["text"] == "beta:after"
    )
    seen = upstreams["beta"].recorder.headers
    assert len([h for h in seen if not h.get("mcp-session-id")]) == 1  # one new initialize


def test_upstream_down(gateways, mcp_project):
    flaky = Upstream(build_beta).start()
    server = add_server(mcp_project.project, "flaky", flaky.url(), protocol="legacy")
    for gateway in gateways:
        gateway.sync_config()
    assert (
        call(gateways[0], mcp_project, "flaky__shout", {"text": "up"}).json()["result"]["content"][0]["text"]
        == "UP"
    )
    flaky.stop()
    time.sleep(2.5)  # past the list cache
    tools, _ = list_all(gateways[0], mcp_project, "tools/list", "tools")
    assert [t["name"] for t in tools] == EXPECTED_TOOLS  # the others still answer
    response = call(gateways[0], mcp_project, "flaky__shout", {"text": "down"})
    error = response.json()["error"]
    assert error["code"] == -32000 and "flaky" in error["message"] and "unavailable" in error["message"]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        server.refresh_from_db()
        if server.last_status == "down":
            break
        time.sleep(0.1)
    assert server.last_status == "down" and server.last_error
