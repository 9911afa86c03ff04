"""Plain HTTP mock upstream: GET answers a small JSON body, POST answers the length it received."""

from __future__ import annotations

from bench.mocks.common import Receive, Scope, Send, drain_length, lifespan, send_bytes, send_json

SMALL_BODY = b'{"ok":true,"service":"bench-http-mock"}'


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    method = scope["method"]
    if method in ("GET", "HEAD"):
        await send_bytes(send, 200, SMALL_BODY)
    elif method in ("POST", "PUT", "PATCH"):
        received = await drain_length(receive)
        await send_json(send, 200, {"received": received})
    else:
        await send_json(send, 405, {"error": "method not allowed"})
