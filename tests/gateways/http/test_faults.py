"""Upstream faults and impatient clients: clear JSON errors, no leaked connection, a healthy gateway."""

from __future__ import annotations

import socket

import httpx
import pytest


def _error(response: httpx.Response) -> str:
    return response.json()["error"]["code"]


def test_hanging_upstream_is_504_after_the_endpoint_timeout(api, live, upstream_server):
    api.endpoint("hang", upstream_server.url("/hang"), timeout_seconds=1)
    r = live.get(api.path("hang"), headers=api.auth)
    assert r.status_code == 504 and _error(r) == "upstream_timeout"
    assert upstream_server.wait_for(lambda: upstream_server.active.get("hang", 0) == 0)


def test_slow_first_byte_within_the_timeout_is_fine(api, live, upstream_server):
    api.endpoint("slow", upstream_server.url("/slow?delay=0.5"), timeout_seconds=2)
    r = live.get(api.path("slow"), headers=api.auth)
    assert r.status_code == 200 and r.text == "slow"


def test_refused_connection_is_502_unreachable(api, live, upstream_server):
    api.endpoint("down", f"http://127.0.0.1:{upstream_server.refused_port}/x")
    r = live.get(api.path("down"), headers=api.auth)
    assert r.status_code == 502 and _error(r) == "upstream_unreachable"
    assert str(upstream_server.refused_port) not in r.text  # no URL in the message


def test_garbage_response_is_502(api, live, upstream_server):
    api.endpoint("junk", f"http://127.0.0.1:{upstream_server.garbage_port}/x")
    r = live.get(api.path("junk"), headers=api.auth)
    assert r.status_code == 502 and _error(r) == "upstream_error"
    assert live.get("/healthz").status_code == 200


def test_reset_mid_body_truncates_the_stream_and_the_gateway_stays_healthy(api, live, upstream_server):
    api.endpoint("reset", upstream_server.url("/reset"))
    received = 0
    with pytest.raises(httpx.TransportError), live.stream("GET", api.path("reset"), headers=api.auth) as r:
        assert r.status_code == 200
        for chunk in r.iter_raw():
            received += len(chunk)
    assert 0 < received < 1024 * 1024  # the client can tell: the body is short of what was promised
    from audit.models import RequestLog

    with api.db():
        rows = RequestLog.objects.filter(project_uuid=api.project.uuid, endpoint="reset")
        assert upstream_server.wait_for(rows.exists), "the gateway wrote no request log"
        assert [(row.status, row.error_code) for row in rows] == [(502, "upstream_error")]
    api.endpoint("ok", upstream_server.url("/echo"))
    assert live.get(api.path("ok"), headers=api.auth, timeout=5).status_code == 200


def _open(port: int, target: str, token: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(
        f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
    )
    return sock


def test_many_interrupted_streams_leak_nothing(api, live, gateway_process, upstream_server):
    api.endpoint("sse", upstream_server.url("/stream?n=400&delay=0.02"))
    api.endpoint("hang", upstream_server.url("/hang"), timeout_seconds=30)
    api.endpoint("ok", upstream_server.url("/echo"))
    assert live.get(api.path("ok"), headers=api.auth).status_code == 200
    baseline = upstream_server.open_connections()

    # 50 clients leave mid-stream, after the first event arrived.
    sockets = [_open(gateway_process.port, api.path("sse"), api.token) for _ in range(50)]
    for sock in sockets:
        assert b"200" in sock.recv(65536).split(b"\r\n", 1)[0]
    assert upstream_server.active.get("stream", 0) >= 40
    for sock in sockets:
        sock.close()
    # 20 more leave before the upstream sent a single byte.
    sockets = [_open(gateway_process.port, api.path("hang"), api.token) for _ in range(20)]
    assert upstream_server.wait_for(lambda: upstream_server.active.get("hang", 0) == 20)
    for sock in sockets:
        sock.close()

    # The upstream sees every one of those connections closed, and its handlers end.
    assert upstream_server.wait_for(
        lambda: upstream_server.active.get("stream", 0) == 0 and upstream_server.active.get("hang", 0) == 0
    ), upstream_server.active
    assert upstream_server.wait_for(lambda: upstream_server.open_connections() <= baseline + 1), (
        upstream_server.open_connections(),
        baseline,
    )
    r = live.get(api.path("ok", "/after"), headers=api.auth, timeout=5)
    assert r.status_code == 200
    assert gateway_process.alive()


def test_interrupted_stream_is_logged_as_499(api, live, upstream_server):
    from audit.models import RequestLog

    api.endpoint("sse", upstream_server.url("/stream?n=50&delay=0.02"))
    with live.stream("GET", api.path("sse"), headers=api.auth) as r:
        for _ in r.iter_raw():
            break
    with api.db():
        rows = RequestLog.objects.filter(project_uuid=api.project.uuid)
        assert upstream_server.wait_for(rows.exists), "the gateway wrote no request log"
        assert [(row.endpoint, row.status, row.error_code) for row in rows] == [("sse", 499, "")]
