"""Real upstream HTTP servers on 127.0.0.1 for tests and benches: one aiohttp app in a background thread.

`UpstreamServer` runs its own event loop in a daemon thread, so sync tests, async tests (any loop) and
bench scripts use it alike. Routes (all methods unless noted):

    /echo/{tail}           JSON: method, path, raw_path, query, headers, body_len, body_sha256
    /upload/{tail}         like echo, plus when the first and last body bytes arrived (monotonic)
    /slow?delay=S          first byte after S seconds
    /hang                  never answers (cancelled when the client goes away)
    /stream?n=N&delay=S    N SSE events, S seconds apart; `stream_finished` holds the end times
    /download?size=B       B deterministic bytes with Content-Length (see `download_sha256`)
    /redirect              302 to another host, never to be followed
    /cookie                Set-Cookie twice
    /reset                 headers promise 1 MB, 64 KB arrive, then the connection is closed

`garbage_port` answers any connection with bytes that are not HTTP; `refused_port` is bound but not
listening, so a connection to it is refused. `open_connections()` counts the server's live
connections, to prove a client (the gateway) closed what it opened.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import time
from collections.abc import Iterator
from typing import Any

from aiohttp import web

from tests.threaded import AiohttpServer

_PATTERN = bytes(range(256)) * 256  # 64 KiB; downloads repeat it


def download_chunks(size: int) -> Iterator[bytes]:
    """The bytes of `/download?size=size`, in 64 KiB pieces (also usable as an upload body)."""
    sent = 0
    while sent < size:
        piece = _PATTERN[: min(len(_PATTERN), size - sent)]
        sent += len(piece)
        yield piece


def download_sha256(size: int) -> str:
    digest = hashlib.sha256()
    for piece in download_chunks(size):
        digest.update(piece)
    return digest.hexdigest()


class UpstreamServer(AiohttpServer):
    """The upstream app on an ephemeral port of 127.0.0.1 (tests/threaded.py runs it in its own thread).

    `requests` holds one record per request, in arrival order.
    """

    thread_name = "test-upstream"
    client_max_size = 1024**3

    def __init__(self) -> None:
        super().__init__()
        self.garbage_port = 0
        self.refused_port = 0
        self.stream_finished: list[float] = []  # monotonic end time of each complete /stream
        self.active: dict[str, int] = {}  # handlers running now, per route
        self._garbage: asyncio.Server | None = None
        self._refused = socket.socket()

    # --- lifecycle --------------------------------------------------------------------------------
    def start(self) -> UpstreamServer:
        super().start()
        # Bound, never listening: connecting is refused, and no other process can take the port.
        self._refused.bind(("127.0.0.1", 0))
        self.refused_port = self._refused.getsockname()[1]
        return self

    def stop(self) -> None:
        super().stop()
        self._refused.close()

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/echo{tail:.*}", self._echo)
        app.router.add_route("*", "/upload{tail:.*}", self._echo)
        app.router.add_route("*", "/slow", self._slow)
        app.router.add_route("*", "/hang", self._hang)
        app.router.add_route("*", "/stream", self._stream)
        app.router.add_route("*", "/download", self._download)
        app.router.add_route("*", "/redirect", self._redirect)
        app.router.add_route("*", "/cookie", self._cookie)
        app.router.add_route("*", "/reset", self._reset)
        app.router.add_route("*", "/status/{code}", self._status)

    async def _serve(self, port: int) -> int:
        served = await super()._serve(port)
        self._garbage = await asyncio.start_server(self._send_garbage, "127.0.0.1", 0)
        self.garbage_port = self._garbage.sockets[0].getsockname()[1]
        return served

    async def _close(self) -> None:
        if self._garbage is not None:
            self._garbage.close()
        await super()._close()

    # --- what tests read ----------------------------------------------------------------------------
    def requests_with(self, request_id: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["headers"].get("x-request-id") == request_id]

    # --- handlers -----------------------------------------------------------------------------------
    def _record(self, request: web.Request) -> dict[str, Any]:
        record = {
            "method": request.method,
            "path": request.path,
            "raw_path": request.raw_path,
            "query": request.query_string,
            "headers": {k.lower(): v for k, v in request.headers.items()},
            "header_list": [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.raw_headers],
        }
        return self.record(record)

    def _enter(self, route: str) -> None:
        self.active[route] = self.active.get(route, 0) + 1

    def _leave(self, route: str) -> None:
        self.active[route] -= 1

    async def _echo(self, request: web.Request) -> web.Response:
        record = self._record(request)
        digest, length = hashlib.sha256(), 0
        first_at = last_at = None
        async for chunk in request.content.iter_any():  # read as it arrives, never whole
            first_at = first_at or time.monotonic()
            last_at = time.monotonic()
            digest.update(chunk)
            length += len(chunk)
        payload = {
            **{k: record[k] for k in ("method", "path", "raw_path", "query")},
            "headers": record["header_list"],
            "body_len": length,
            "body_sha256": digest.hexdigest(),
            "first_byte_at": first_at,
            "last_byte_at": last_at,
        }
        return web.json_response(payload)

    async def _status(self, request: web.Request) -> web.StreamResponse:
        """`/status/{code}`: that status with `?body=`, chunked when `?chunked=1` (framing tests)."""
        self._record(request)
        code = int(request.match_info["code"])
        body = request.query.get("body", "").encode()
        if request.query.get("chunked") == "1":
            response = web.StreamResponse(status=code, headers={"X-Framing": "chunked"})
            response.enable_chunked_encoding()
            await response.prepare(request)
            await response.write(body)
            await response.write_eof()
            return response
        return web.Response(status=code, body=body or None, headers={"X-Framing": "length"})

    async def _slow(self, request: web.Request) -> web.Response:
        self._record(request)
        await asyncio.sleep(float(request.query.get("delay", "1")))
        return web.Response(text="slow")

    async def _hang(self, request: web.Request) -> web.Response:
        self._record(request)
        self._enter("hang")
        try:
            await asyncio.sleep(3600)
        finally:
            self._leave("hang")
        return web.Response()

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        self._record(request)
        count = int(request.query.get("n", "5"))
        delay = float(request.query.get("delay", "0.05"))
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        self._enter("stream")
        try:
            await response.prepare(request)
            for i in range(count):
                await response.write(f"data: {i}\n\n".encode())
                await asyncio.sleep(delay)
            await response.write_eof()
            self.stream_finished.append(time.monotonic())
        finally:
            self._leave("stream")
        return response

    async def _download(self, request: web.Request) -> web.StreamResponse:
        self._record(request)
        size = int(request.query.get("size", str(20 * 1024 * 1024)))
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        response.content_length = size
        self._enter("download")
        try:
            await response.prepare(request)
            for piece in download_chunks(size):
                await response.write(piece)
            await response.write_eof()
        finally:
            self._leave("download")
        return response

    async def _redirect(self, request: web.Request) -> web.Response:
        self._record(request)
        return web.Response(status=302, headers={"Location": "http://127.0.0.1:1/elsewhere"})

    async def _cookie(self, request: web.Request) -> web.Response:
        self._record(request)
        response = web.Response(text="cookie")
        response.set_cookie("session", "tenant-a-secret")
        response.set_cookie("other", "two")
        return response

    async def _reset(self, request: web.Request) -> web.StreamResponse:
        self._record(request)
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        response.content_length = 1024 * 1024
        await response.prepare(request)
        await response.write(_PATTERN)
        await asyncio.sleep(0.05)
        assert request.transport is not None
        request.transport.close()
        return response

    async def _send_garbage(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.read(65536)
            writer.write(b"\x00\x01NOT HTTP AT ALL\r\n\xff\xfe\r\n\r\n")
            await writer.drain()
        finally:
            writer.close()
