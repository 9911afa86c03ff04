"""Small raw-ASGI helpers shared by the mock upstreams: read the body, answer JSON, lifespan."""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

JSON_HEADERS = [(b"content-type", b"application/json")]


def dumps(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    return float(raw) if raw else default


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


async def read_body(receive: Receive) -> bytes:
    """The whole request body (the mocks are only fed bounded bench payloads)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def drain_length(receive: Receive) -> int:
    """Read the body counting bytes without keeping it (the 1 MB echo must not copy)."""
    total = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        total += len(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return total


async def send_bytes(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    all_headers = list(headers or JSON_HEADERS)
    all_headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": body})


async def send_json(
    send: Send, status: int, value: object, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    await send_bytes(send, status, dumps(value), JSON_HEADERS + (extra or []))


async def lifespan(receive: Receive, send: Send) -> None:
    """Answer startup and shutdown: the mocks hold no resources."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
