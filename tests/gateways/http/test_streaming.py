"""Bodies both ways are streamed, never buffered whole: uploads, size limits, SSE, large downloads."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator

import pytest

from tests.upstreams import download_chunks, download_sha256

MB = 1024 * 1024


def _sha(size: int) -> str:
    return download_sha256(size)


@pytest.mark.parametrize("size", [MB, 20 * MB])
def test_uploads_arrive_intact(api, live, upstream_server, size):
    api.endpoint("up", upstream_server.url("/upload"), max_body_bytes=32 * MB)
    content = b"".join(download_chunks(size))
    r = live.post(api.path("up", "/file"), headers=api.auth, content=content)
    assert r.status_code == 200, r.text
    assert r.json()["body_len"] == size and r.json()["body_sha256"] == _sha(size)


def test_chunked_upload_is_streamed_to_the_upstream(api, live, upstream_server):
    """The upstream reads the first bytes while the client is still sending."""
    api.endpoint("up", upstream_server.url("/upload"))
    sent_last_at: list[float] = []

    def slow_body() -> Iterator[bytes]:
        for i in range(5):
            yield f"part-{i};".encode() * 1000
            time.sleep(0.15)
        sent_last_at.append(time.monotonic())

    r = live.post(api.path("up", "/slow"), headers=api.auth, content=slow_body())
    body = r.json()
    expected = b"".join(f"part-{i};".encode() * 1000 for i in range(5))
    assert body["body_sha256"] == hashlib.sha256(expected).hexdigest()
    assert body["first_byte_at"] < sent_last_at[0] - 0.3  # upstream had bytes long before the end


def test_body_over_max_is_413_with_content_length(api, live, upstream_server):
    api.endpoint("small", upstream_server.url("/upload"), max_body_bytes=1000)
    before = len(upstream_server.requests)
    r = live.post(api.path("small"), headers=api.auth, content=b"x" * 1001)
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    assert len(upstream_server.requests) == before
    assert live.post(api.path("small"), headers=api.auth, content=b"x" * 1000).status_code == 200


def test_chunked_body_over_max_is_413(api, live, upstream_server):
    api.endpoint("small", upstream_server.url("/upload"), max_body_bytes=100_000)

    def chunks() -> Iterator[bytes]:
        for _ in range(50):
            yield b"y" * 10_000

    r = live.post(api.path("small"), headers=api.auth, content=chunks())
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "payload_too_large"
    assert live.get("/healthz").status_code == 200


def test_sse_chunks_arrive_before_the_upstream_finishes(api, live, upstream_server):
    api.endpoint("sse", upstream_server.url("/stream?n=5&delay=0.3"))
    finished_before = len(upstream_server.stream_finished)
    arrivals: list[tuple[float, bytes]] = []
    with live.stream("GET", api.path("sse"), headers=api.auth) as r:
        assert r.status_code == 200
        assert r.headers["content-type"] == "text/event-stream"
        for chunk in r.iter_raw():
            arrivals.append((time.monotonic(), chunk))
    assert b"".join(c for _, c in arrivals) == b"".join(f"data: {i}\n\n".encode() for i in range(5))
    deadline = time.monotonic() + 2  # the upstream records "finished" just after writing the last chunk
    while len(upstream_server.stream_finished) == finished_before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(upstream_server.stream_finished) == finished_before + 1
    finished_at = upstream_server.stream_finished[-1]
    assert arrivals[0][0] < finished_at - 1.0  # the first event came ~1.2 s before the last was written
    assert len(arrivals) >= 3  # delivered as they came, not as one block


def test_large_download_is_intact(api, live, upstream_server):
    size = 20 * MB
    api.endpoint("dl", upstream_server.url(f"/download?size={size}"))
    digest, length = hashlib.sha256(), 0
    with live.stream("GET", api.path("dl"), headers=api.auth) as r:
        assert r.status_code == 200
        assert r.headers["content-length"] == str(size)
        for chunk in r.iter_raw():
            digest.update(chunk)
            length += len(chunk)
    assert length == size and digest.hexdigest() == _sha(size)
