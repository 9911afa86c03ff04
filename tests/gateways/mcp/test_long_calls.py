"""Long tool calls through the gateway: progress and log notifications relayed, tool timeouts, client
cancellation reaching the upstream, and catalogue changes announced on the session's GET stream.

`delta` is served twice: as `dm` (2026-07-28, stateless upstream) and `dl` (session handshake), with the
same tool names; `dt` is the session one again with a one-second tool timeout.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import httpx2
import pytest
from django.conf import settings
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client

from audit.models import RequestLog
from tests.gateways.mcp.conftest import McpProject, add_server, modern, modern_headers, post, rpc
from tests.gateways.mcp.test_protocol import initialize
from tests.gateways.mcp.upstreams import Announcer, DeltaRecord, Upstream, build_beta, build_delta

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def delta() -> Iterator[tuple[Upstream, DeltaRecord]]:
    record = DeltaRecord()
    server = Upstream(lambda: build_delta(record)).start()
    try:
        yield server, record
    finally:
        server.stop()


@pytest.fixture
def long_project(make_project, make_token, delta) -> McpProject:
    upstream, _ = delta
    project = make_project("Long calls", project_type="mcp_gateway")
    _, token = make_token(project, scopes=["mcp"])
    servers = {
        "dm": add_server(project, "dm", upstream.url(), protocol="2026-07-28"),
        "dl": add_server(project, "dl", upstream.url(), protocol="legacy"),
        "dt": add_server(project, "dt", upstream.url(), protocol="legacy", tool_timeout_seconds=1),
    }
    return McpProject(project, token, servers)


@asynccontextmanager
async def client(url: str, token: str, mode: str, **options: Any):
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
    async with http:
        async with Client(streamable_http_client(url, http_client=http), mode=mode, **options) as session:
            yield session


def wait_for(condition, timeout: float = 10.0, every: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return condition()


@pytest.mark.parametrize("mode", ["auto", "legacy"])
@pytest.mark.parametrize("prefix", ["dm", "dl"])
async def test_progress_and_log_notifications_reach_the_client(gateways, long_project, mode, prefix):
    progress: list[tuple[float, float | None, str | None]] = []
    logs: list[Any] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, total, message))

    async def on_log(params: Any) -> None:
        logs.append(params.data)

    url = gateways[0].url(long_project.path())
    async with client(url, long_project.token, mode, logging_callback=on_log, log_level="info") as session:
        result = await session.call_tool(f"{prefix}__work", {"steps": 3}, progress_callback=on_progress)
    assert result.content[0].text == "worked 3"
    assert progress == [(1, 3, "step 1"), (2, 3, "step 2"), (3, 3, "step 3")]
    assert logs == ["did step 1", "did step 2", "did step 3"]


def test_a_slow_tool_is_that_calls_error_not_an_outage(gateways, long_project):
    body = modern("tools/call", {"name": "dt__slow", "arguments": {"seconds": 3, "label": "timeout"}})
    response = post(gateways[0], long_project, body, **modern_headers("tools/call", "dt__slow"))
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    assert result["isError"] is True
    assert result["content"][0]["text"] == "Tool dt__slow did not finish within 1 s"
    server = long_project.servers["dt"]
    server.refresh_from_db()
    assert server.last_status != "down"
    assert wait_for(
        lambda: RequestLog.objects.filter(
            project_uuid=long_project.project.uuid, endpoint="dt__slow", error_code="tool_timeout"
        ).exists()
    )
    row = RequestLog.objects.get(project_uuid=long_project.project.uuid, endpoint="dt__slow")
    assert row.attempts[0]["outcome"] == "tool_error"


def test_session_client_cancellation_reaches_the_upstream(gateways, long_project, delta):
    _, record = delta
    session, _ = initialize(gateways[0], long_project)
    headers = {"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"}
    answers: queue.Queue[httpx.Response] = queue.Queue()
    body = rpc("tools/call", {"name": "dl__slow", "arguments": {"seconds": 30, "label": "c-session"}}, id=7)
    threading.Thread(
        target=lambda: answers.put(post(gateways[0], long_project, body, **headers)), daemon=True
    ).start()
    assert wait_for(lambda: "c-session" in record.started)
    # Another process takes the cancellation when the processes share Redis; else the same one.
    other = gateways[1] if settings.REDIS_URL else gateways[0]
    cancel = rpc("notifications/cancelled", {"requestId": 7, "reason": "user pressed stop"}, id=None)

    def cancelled() -> bool:
        assert post(other, long_project, cancel, **headers).status_code == 202
        return "c-session" in record.cancelled

    assert wait_for(cancelled, every=0.3)
    answer = answers.get(timeout=10)
    assert answer.status_code == 200  # the client gave up on it; the gateway still answers the POST
    assert "c-session" not in record.finished


@pytest.mark.parametrize("prefix", ["dm", "dl"])
def test_modern_client_disconnect_cancels_the_call(gateways, long_project, delta, prefix):
    _, record = delta
    label = f"c-disconnect-{prefix}"
    body = modern("tools/call", {"name": f"{prefix}__slow", "arguments": {"seconds": 30, "label": label}})
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            gateways[1].url(long_project.path()),
            json=body,
            headers={"Accept": "application/json, text/event-stream", **long_project.auth}
            | modern_headers("tools/call", f"{prefix}__slow"),
            timeout=httpx.Timeout(30, read=1.5),
        )
    assert label in record.started
    assert wait_for(lambda: label in record.cancelled)
    assert label not in record.finished


class Listening:
    """A session's GET stream read on a thread; `messages` gets every JSON-RPC message it carries."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.messages: queue.Queue[str] = queue.Queue()
        self.opened = threading.Event()
        self.stop = False
        self.thread = threading.Thread(target=self._read, args=(url, headers), daemon=True)
        self.thread.start()
        assert self.opened.wait(15), "the listening stream did not open"

    def _read(self, url: str, headers: dict[str, str]) -> None:
        with httpx.stream("GET", url, headers=headers, timeout=httpx.Timeout(60)) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                self.opened.set()
                if line.startswith("data:"):
                    self.messages.put(line[5:].strip())
                if self.stop:
                    return

    def next_method(self, timeout: float = 10.0) -> str:
        import json

        return json.loads(self.messages.get(timeout=timeout))["method"]


def _listen(gateway, project: McpProject) -> Listening:
    session, _ = initialize(gateway, project)
    headers = {
        **project.auth,
        "Mcp-Session-Id": session,
        "MCP-Protocol-Version": "2025-11-25",
        "Accept": "text/event-stream",
    }
    return Listening(gateway.url(project.path()), headers)


def test_adding_a_server_is_announced_on_the_get_stream(gateways, long_project):
    listening = _listen(gateways[1], long_project)
    extra = Upstream(build_beta).start()
    try:
        add_server(long_project.project, "extra", extra.url(), protocol="legacy")
        assert listening.next_method() == "notifications/tools/list_changed"
        names = post(gateways[1], long_project, modern("tools/list"), **modern_headers("tools/list")).json()
        assert "extra__shout" in [t["name"] for t in names["result"]["tools"]]
    finally:
        listening.stop = True
        extra.stop()


def test_an_upstream_catalogue_change_reaches_every_process(gateways, long_project):
    listening = _listen(gateways[0], long_project)
    body = modern("tools/call", {"name": "dl__install", "arguments": {"name": "fresh"}})
    installed = post(gateways[1], long_project, body, **modern_headers("tools/call", "dl__install"))
    assert installed.json()["result"]["content"][0]["text"] == "installed fresh"
    assert listening.next_method() == "notifications/tools/list_changed"
    listening.stop = True
    # Callable at once on the other process too (its cached catalogue is re-read on a miss).
    body = modern("tools/call", {"name": "dm__fresh", "arguments": {}})
    called = post(gateways[0], long_project, body, **modern_headers("tools/call", "dm__fresh"))
    assert called.json()["result"]["content"][0]["text"] == "fresh is here"


def test_an_upstream_announcement_on_its_own_stream_reaches_listeners(gateways, long_project):
    announcer = Announcer()
    server = Upstream(lambda: announcer).start()
    try:
        add_server(long_project.project, "ann", server.url(), protocol="legacy")

        def listed_here() -> bool:
            listed = post(gateways[0], long_project, modern("tools/list"), **modern_headers("tools/list"))
            return "ann__first" in {t["name"] for t in listed.json()["result"]["tools"]}

        assert wait_for(listed_here)  # this process has read the new server before anyone listens
        listening = _listen(gateways[0], long_project)
        # While someone listens, the gateway listens to the upstream's own GET stream.
        assert wait_for(lambda: len(announcer.streams) == 1), gateways[0].output()[-3000:]
        announcer.tools.append("second")
        announcer.announce()
        assert listening.next_method() == "notifications/tools/list_changed"
        listening.stop = True
        listed = post(gateways[1], long_project, modern("tools/list"), **modern_headers("tools/list")).json()
        assert {"ann__first", "ann__second"} <= {t["name"] for t in listed["result"]["tools"]}
    finally:
        server.stop()
