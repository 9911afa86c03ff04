"""Lean ASGI request and response primitives for the data plane (no Django handler on the hot path)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

import orjson

from promptgate.errors import ErrorCode, PromptGateError, error_body

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class ClientDisconnected(Exception):
    """The client went away while we were reading its request or writing our response."""


class Request:
    """One data-plane HTTP request: parsed scope plus lazy, bounded access to the body."""

    __slots__ = (
        "_body",
        "_consumed",
        "client_ip",
        "headers",
        "method",
        "path",
        "query_string",
        "receive",
        "scope",
    )

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.scope = scope
        self.receive = receive
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.query_string: bytes = scope.get("query_string", b"")
        # Lower-cased names; repeated headers joined the way HTTP allows (comma), except that callers
        # needing raw repeats read scope["headers"].
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        self.headers = headers
        client = scope.get("client")
        self.client_ip: str | None = client[0] if client else None
        self._body: bytes | None = None
        self._consumed = False

    def content_length(self) -> int | None:
        raw = self.headers.get("content-length")
        if raw is None:
            return None
        if not raw.isdigit():
            raise PromptGateError("Invalid Content-Length", code=ErrorCode.BAD_REQUEST, status=400)
        return int(raw)

    async def stream(self, max_bytes: int) -> AsyncIterator[bytes]:
        """Yield body chunks as they arrive; 413 as soon as more than max_bytes came in."""
        if self._consumed:
            if self._body:
                yield self._body
            return
        declared = self.content_length()
        if declared is not None and declared > max_bytes:
            raise payload_too_large(max_bytes)
        self._consumed = True
        received = 0
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnected
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > max_bytes:
                raise payload_too_large(max_bytes)
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                return

    async def body(self, max_bytes: int) -> bytes:
        if self._body is None:
            self._body = b"".join([chunk async for chunk in self.stream(max_bytes)])
        return self._body

    async def json(self, max_bytes: int) -> Any:
        raw = await self.body(max_bytes)
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise PromptGateError("Request body is not valid JSON", code=ErrorCode.MALFORMED_JSON) from exc


def payload_too_large(max_bytes: int) -> PromptGateError:
    return PromptGateError(
        f"Request body is larger than {max_bytes} bytes", code=ErrorCode.PAYLOAD_TOO_LARGE, status=413
    )


HeaderList = list[tuple[bytes, bytes]]


def encode_headers(headers: Iterable[tuple[str, str]]) -> HeaderList:
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]


class Response:
    """A complete response body sent in one message."""

    def __init__(
        self,
        body: bytes = b"",
        status: int = 200,
        headers: dict[str, str] | None = None,
        content_type: str | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.headers: dict[str, str] = dict(headers or {})
        if content_type:
            self.headers["content-type"] = content_type
        self.raw_headers: HeaderList = []  # upstream headers passed through verbatim (repeats kept)

    def header_list(self) -> HeaderList:
        return self.raw_headers + encode_headers(self.headers.items())

    async def __call__(self, send: Send, receive: Receive) -> None:
        headers = self.header_list()
        headers.append((b"content-length", str(len(self.body)).encode()))
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


class JSONResponse(Response):
    def __init__(self, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        super().__init__(orjson.dumps(data), status, headers, content_type="application/json")


def error_response(exc: PromptGateError) -> JSONResponse:
    return JSONResponse(error_body(exc.code, exc.message, exc.fields), exc.status, exc.headers)


# The headers of every Server-Sent Events answer: no caching, and no buffering by a proxy in front.
SSE_HEADERS = {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    "x-accel-buffering": "no",
}


class StreamingResponse(Response):
    """Streams an async iterator; `on_close` always runs (normal end, disconnect, or error).

    The body is written while a watcher listens for `http.disconnect`, so a client that goes away
    mid-stream stops the upstream read at once instead of on the next chunk.
    """

    def __init__(
        self,
        chunks: AsyncIterator[bytes],
        status: int = 200,
        headers: dict[str, str] | None = None,
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(b"", status, headers)
        self.chunks = chunks
        self.on_close = on_close
        self.bytes_sent = 0
        self.completed = False

    async def __call__(self, send: Send, receive: Receive) -> None:
        async def stream_body() -> None:
            await send({"type": "http.response.start", "status": self.status, "headers": self.header_list()})
            async for chunk in self.chunks:
                if chunk:
                    self.bytes_sent += len(chunk)
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            self.completed = True

        async def watch_disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        writer = asyncio.ensure_future(stream_body())
        watcher = asyncio.ensure_future(watch_disconnect())
        try:
            done, _ = await asyncio.wait({writer, watcher}, return_when=asyncio.FIRST_COMPLETED)
            if writer in done:
                writer.result()  # re-raise a failure of the body iterator
        except OSError as exc:  # the transport broke under us: same as a disconnect
            raise ClientDisconnected from exc
        finally:
            for task in (writer, watcher):
                if not task.done():
                    task.cancel()
            await asyncio.gather(writer, watcher, return_exceptions=True)
            aclose = getattr(self.chunks, "aclose", None)
            if aclose is not None:
                await aclose()
            if self.on_close is not None:
                await self.on_close()


HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)

H = TypeVar("H", str, bytes)


def strip_hop_by_hop(headers: Mapping[H, H] | Iterable[tuple[H, H]]) -> list[tuple[H, H]]:
    """Headers minus hop-by-hop ones, including every header a `Connection:` value names."""
    pairs = list(headers.items() if isinstance(headers, Mapping) else headers)
    drop = set(HOP_BY_HOP)
    for name, value in pairs:
        if _text(name).lower() == "connection":
            # `Connection: X-Secret` makes X-Secret hop-by-hop: it must not cross the gateway.
            drop.update(token.strip().lower() for token in _text(value).split(","))
    return [(name, value) for name, value in pairs if _text(name).lower() not in drop]


def _text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value
