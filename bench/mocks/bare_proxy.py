"""Bare ASGI proxy on aiohttp's client, no auth and no logic: the ceiling of any proxy on this stack."""

from __future__ import annotations

import os

import aiohttp

from bench.mocks.common import Receive, Scope, Send, read_body

# First path segment -> upstream base URL (set by bench/stack.py): /http/small -> {http}/small.
UPSTREAMS = {
    b"http": os.environ.get("BENCH_BARE_HTTP_URL", "").rstrip("/"),
    b"llm": os.environ.get("BENCH_BARE_LLM_URL", "").rstrip("/"),
}
_session: aiohttp.ClientSession | None = None


async def _lifespan(receive: Receive, send: Send) -> None:
    global _session
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            # One pool per worker, unlimited and kept alive (aiohttp's default keep-alive).
            _session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if _session is not None:
                await _session.close()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _answer(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    prefix, _, rest = (scope.get("raw_path") or scope["path"].encode()).lstrip(b"/").partition(b"/")
    base = UPSTREAMS.get(prefix)
    if not base or _session is None:
        await _answer(send, 404, [(b"content-type", b"text/plain")], b"unknown upstream")
        return
    url = f"{base}/{rest.decode()}"
    if scope["query_string"]:
        url += "?" + scope["query_string"].decode()
    headers = [("Content-Type", v.decode()) for k, v in scope["headers"] if k == b"content-type"]
    body = await read_body(receive)
    started = False
    try:
        async with _session.request(scope["method"], url, data=body or None, headers=headers) as r:
            content_type = r.headers.get("Content-Type")
            out = [(b"content-type", content_type.encode())] if content_type else []
            if not (content_type or "").startswith("text/event-stream"):
                await _answer(send, r.status, out, await r.read())
                return
            started = True
            await send({"type": "http.response.start", "status": r.status, "headers": out})
            async for chunk in r.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
    except aiohttp.ClientError as exc:
        if not started:
            await _answer(send, 502, [(b"content-type", b"text/plain")], str(exc).encode())
