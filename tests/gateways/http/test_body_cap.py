"""Issue 17, point 10: an endpoint's body cap holds whatever the upstream does (reads, ignores, answers early)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

MB = 1024 * 1024


def chunked(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        piece = min(size, total - sent)
        sent += piece
        yield b"z" * piece


@pytest.mark.parametrize(
    "route",
    [
        "/status/200?body=ignored",  # answers at once, whole, never reading the body
        "/status/201?body=ignored&chunked=1",  # the same, chunked
        "/stream?n=3&delay=0.01",  # a streamed answer that never reads the body
        "/upload",  # reads the body (the cap was always held here)
    ],
)
def test_a_chunked_body_past_the_cap_is_413_whatever_the_upstream_does(api, live, upstream_server, route):
    api.endpoint("capped", upstream_server.url(route), max_body_bytes=1000)
    response = live.post(api.path("capped"), headers=api.auth, content=chunked(2 * MB))
    assert response.status_code == 413, (route, response.status_code, response.text[:200])
    assert response.json()["error"]["code"] == "payload_too_large"
    assert live.get("/healthz").status_code == 200


@pytest.mark.parametrize("route", ["/status/200?body=ok", "/stream?n=3&delay=0.01", "/upload"])
def test_a_chunked_body_within_the_cap_is_answered_as_the_upstream_answers(api, live, upstream_server, route):
    api.endpoint("capped", upstream_server.url(route), max_body_bytes=1000)
    response = live.post(api.path("capped"), headers=api.auth, content=chunked(1000, size=100))
    assert response.status_code == 200, (route, response.text[:200])


def test_the_endpoint_keeps_serving_after_early_answers(api, live, upstream_server):
    api.endpoint("capped", upstream_server.url("/status/200?body=ok"), max_body_bytes=1000)
    for _ in range(5):
        assert live.post(api.path("capped"), headers=api.auth, content=chunked(2 * MB)).status_code == 413
        assert live.post(api.path("capped"), headers=api.auth, content=chunked(500)).status_code == 200
