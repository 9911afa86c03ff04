"""The data plane's one HTTP client: a small typed facade over h1 (HTTP/1.1), SSRF-pinned, one per event loop."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import ssl
import weakref
import zlib
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import aiohttp
import certifi
import httptools
import orjson
import yarl
from django.conf import settings
from multidict import CIMultiDict, CIMultiDictProxy

from gateways.common import ssrf
from gateways.common.http import HOP_BY_HOP, strip_hop_by_hop  # noqa: F401  # re-exported
from gateways.common.transport import h1, h1_head, h1_pool
from gateways.common.transport.upstream_errors import (  # re-exported: callers catch them as http_client.X
    BodyTooLarge,
    InvalidRequestHeader,
    InvalidUpstreamURL,
    StaleConnection,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnreachable,
)

__all__ = [
    "BodyTooLarge",
    "InvalidRequestHeader",
    "InvalidUpstreamURL",
    "StaleConnection",
    "UpstreamError",
    "UpstreamTimeout",
    "UpstreamUnreachable",
]

USER_AGENT = h1_head.USER_AGENT

Headers = Mapping[str, str] | Iterable[tuple[str, str]]
Body = bytes | AsyncIterable[bytes] | None


# ---- errors: URL-free messages, one (status, code) each -------------------------------------------


def as_upstream_error(exc: BaseException) -> UpstreamError:
    """asyncio's, the OS's (and aiohttp's, still used by tests and tools) failures as ours, URL-free."""
    if isinstance(exc, UpstreamError):
        return exc
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return UpstreamTimeout("connection to upstream timed out")
    if isinstance(exc, TimeoutError):  # aiohttp's socket timeouts and asyncio's are TimeoutError
        return UpstreamTimeout("upstream did not respond in time")
    if isinstance(exc, aiohttp.ClientConnectorDNSError | socket.gaierror):
        return UpstreamUnreachable("upstream host name does not resolve")
    if isinstance(exc, aiohttp.ClientConnectorError | ConnectionRefusedError):
        os_error = exc.os_error if isinstance(exc, aiohttp.ClientConnectorError) else exc
        refused = isinstance(os_error, ConnectionRefusedError)
        return UpstreamUnreachable("upstream refused the connection" if refused else "upstream unreachable")
    if isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        return InvalidUpstreamURL("upstream URL is not valid")
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError | ConnectionError):
        return UpstreamError("upstream closed the connection")
    if isinstance(exc, aiohttp.ClientResponseError | aiohttp.ClientPayloadError | httptools.HttpParserError):
        return UpstreamError("upstream sent an invalid response")
    return UpstreamError("upstream request failed")


# Everything a send or a body read may raise besides UpstreamError (mapped on the way out).
_MAPPED = (aiohttp.ClientError, OSError, TimeoutError, ValueError)


def classify_upstream_error(exc: BaseException) -> tuple[int, str, str]:
    """(status, code, message) for a failed upstream call; messages never carry URLs or credentials."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssrf.SsrfBlocked):
            return ssrf.SsrfBlocked.request_status, "ssrf_blocked", current.public_message
        current = current.__cause__ or current.__context__
    error = as_upstream_error(exc)
    return error.status, error.code, str(error)


# ---- requests ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Timeout:
    """`read`: each wait for upstream bytes; `connect`: the TCP (+TLS) connect; `pool`: waiting for a
    pooled slot (added to connect, as aiohttp counted both). No total: long streams stay open while alive.
    """

    read: float
    connect: float | None = None  # None: min(read, 10)
    pool: float | None = None  # None: read
    connect_s: float = field(init=False, repr=False, compare=False)  # `connect` with its default applied
    pool_s: float = field(init=False, repr=False, compare=False)  # `pool` with its default applied

    def __post_init__(self) -> None:
        object.__setattr__(self, "connect_s", min(self.read, 10.0) if self.connect is None else self.connect)
        object.__setattr__(self, "pool_s", self.read if self.pool is None else self.pool)


DEFAULT_TIMEOUT = Timeout(30.0, connect=10.0, pool=10.0)


@lru_cache(maxsize=256)
def timeout(seconds: float) -> Timeout:
    """The usual per-endpoint timeout (read `seconds`, connect at most 10 s), shared across requests."""
    return Timeout(seconds)


# What may not appear raw in a request line: controls, space, non-ASCII and a few delimiters.
_UNSAFE = re.compile(r"[\x00-\x20\x7f-\U0010ffff\"<>\\^`{|}]")


@lru_cache(maxsize=1024)  # the AI gateway sends to a few fixed URLs: parsed once, not per request
def parse_url(url: str) -> yarl.URL:
    """The URL as sent, byte for byte: no re-quoting, no dot-segment folding (`%2e%2e` stays).

    Only what cannot appear in a request line is encoded: a non-ASCII host as IDNA, other unsafe
    characters percent-encoded. Raises InvalidUpstreamURL.
    """
    try:
        if _UNSAFE.search(url):
            parts = urlsplit(url)
            netloc = parts.netloc
            if not netloc.isascii():
                netloc = (parts.hostname or "").encode("idna").decode("ascii")
                netloc += f":{parts.port}" if parts.port is not None else ""
            safe = "!$&'()*+,;=:@/?%~[]"
            path, query = quote(parts.path, safe=safe), quote(parts.query, safe=safe)
            url = urlunsplit((parts.scheme, netloc, path, query, ""))
        parsed = yarl.URL(url, encoded=True)
        valid = _usable(parsed)
    except (ValueError, UnicodeError):
        valid = False
    if not valid:
        raise InvalidUpstreamURL("upstream URL is not valid")
    return parsed


def _usable(url: yarl.URL) -> bool:
    return url.scheme in ("http", "https") and bool(url.raw_host) and url.port is not None


class UpstreamResponse(h1.Response):
    """Status and headers of an upstream answer; the body is read on demand. Always aclose() it."""

    __slots__ = ("_body", "_headers")

    def __init__(self, loop: asyncio.AbstractEventLoop, read_timeout: float, head_only: bool) -> None:
        super().__init__(loop, read_timeout, head_only)
        self._body: bytes | None = None
        self._headers: CIMultiDictProxy[str] | None = None

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        """The headers decoded (built on first use: the proxy passes raw_headers on and never asks)."""
        headers = self._headers
        if headers is None:
            headers = self._headers = CIMultiDictProxy(
                CIMultiDict(
                    (name.decode("utf-8", "surrogateescape"), value.decode("utf-8", "surrogateescape"))
                    for name, value in self.raw_headers
                )
            )
        return headers

    def aiter_raw(self) -> AsyncIterator[bytes]:
        """The body as it arrives, byte-exact (still compressed if the upstream compressed it)."""
        return self

    async def read(self, max_bytes: int | None = None, *, truncate: bool = False) -> bytes:
        """The whole body, decoded from gzip/deflate. Past `max_bytes`: BodyTooLarge, or the first
        `max_bytes` bytes when `truncate`."""
        if self._body is not None:
            return self._body
        chunks: list[bytes] = []
        size = 0
        while chunk := await self.next_chunk():
            size += len(chunk)
            chunks.append(chunk)
            if max_bytes is not None and size > max_bytes:
                if not truncate:
                    raise BodyTooLarge("upstream response is too large")
                break
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        encoding = self.content_encoding
        if encoding:
            body = _decode(body, encoding.decode("latin-1").strip().lower(), max_bytes or 0)
        if max_bytes is not None:
            body = body[:max_bytes]
        self._body = body
        return body

    def json(self) -> Any:
        """The body read() returned, parsed; ValueError when it is not JSON."""
        if self._body is None:
            raise RuntimeError("read() the response before json()")
        return orjson.loads(self._body)

    async def aclose(self) -> None:
        # A body still on the wire closes its connection instead of pooling it, so nothing leaks.
        self.close()


def _decode(body: bytes, encoding: str, limit: int) -> bytes:
    """gzip/deflate decoded (at most `limit` bytes, 0 = all); other encodings returned as they are."""
    if encoding in ("gzip", "x-gzip"):
        wbits = 16 + zlib.MAX_WBITS
    elif encoding == "deflate":
        wbits = zlib.MAX_WBITS if body[:1] == b"\x78" else -zlib.MAX_WBITS  # zlib-wrapped or raw
    else:
        return body
    try:
        return zlib.decompressobj(wbits).decompress(body, limit)
    except zlib.error as exc:
        raise UpstreamError("upstream sent an invalid response") from exc


class Client:
    """One connection pool with the gateway's guarantees; use get_client() for the shared one."""

    __slots__ = ("session",)

    def __init__(self, session: h1_pool.Pool) -> None:
        self.session = session

    @property
    def is_closed(self) -> bool:
        return self.session.closed

    async def send(
        self,
        method: str,
        url: str | yarl.URL,
        *,
        headers: Headers = (),
        content: Body = None,
        timeout: Timeout = DEFAULT_TIMEOUT,
    ) -> UpstreamResponse:
        """Send and return once the response headers are in; the body is left to the caller.

        Never follows redirects, never sends or stores cookies, never decompresses, adds no
        Accept-Encoding; repeated headers go out repeated. Raises UpstreamError or SsrfBlocked.
        """
        if isinstance(url, yarl.URL):
            if not _usable(url):
                raise InvalidUpstreamURL("upstream URL is not valid")
            target = url
        else:
            target = parse_url(url)
        host = target.raw_host or ""
        # IP literals are dialled as they are, so they are checked here; names when they are resolved.
        ssrf.check_host(host)
        head, close = h1_head.encode_head(
            method, target.raw_path_qs, target.host_port_subcomponent or host, headers, content
        )
        try:
            response = await self.session.request(
                target.scheme,
                host,
                target.port or 0,
                head,
                content,
                read=timeout.read,
                connect=timeout.connect_s,
                wait=timeout.pool_s,
                head_only=method == "HEAD",
                close=close,
            )
        except _MAPPED as exc:
            raise as_upstream_error(exc) from exc
        return response  # type: ignore[return-value]  # the pool builds UpstreamResponse

    async def aclose(self) -> None:
        await self.session.aclose()


async def send(
    method: str,
    url: str | yarl.URL,
    *,
    headers: Headers = (),
    content: Body = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
) -> UpstreamResponse:
    """Client.send on this event loop's shared client."""
    return await get_client().send(method, url, headers=headers, content=content, timeout=timeout)


# ---- lifecycle -----------------------------------------------------------------------------------


def build_client(ssl_context: ssl.SSLContext | None = None) -> Client:
    """A new client (certifi CAs unless `ssl_context`); the data plane shares one per loop: get_client()."""
    session = h1_pool.Pool(
        # The environment's CA settings (SSL_CERT_FILE...) are ignored, like every other env setting.
        ssl_context or ssl.create_default_context(cafile=certifi.where()),
        limit=settings.PROMPTGATE_UPSTREAM_MAX_CONNECTIONS,
        limit_per_host=settings.PROMPTGATE_UPSTREAM_MAX_PER_HOST,
        keepalive=30.0,
        response_class=UpstreamResponse,
    )
    return Client(session)


_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Client] = weakref.WeakKeyDictionary()
_closers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncGenerator[None, None]] = (
    weakref.WeakKeyDictionary()
)


async def open_client() -> Client:
    """Open (or return) this loop's shared client; called by the ASGI lifespan at startup."""
    return get_client()


def get_client() -> Client:
    """This loop's shared client, opened lazily when no lifespan did (tests, management commands)."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.session.closed:
        client = build_client()
        _clients[loop] = client
        _close_at_loop_shutdown(loop, client)
    return client


async def close_client() -> None:
    """Close this loop's shared client; called by the ASGI lifespan at shutdown."""
    loop = asyncio.get_running_loop()
    client = _clients.pop(loop, None)
    closer = _closers.pop(loop, None)
    if closer is not None:
        await closer.aclose()  # finalise now, not at garbage collection
    if client is not None:
        await client.aclose()


def _close_at_loop_shutdown(loop: asyncio.AbstractEventLoop, client: Client) -> None:
    # A lazily opened client has no lifespan to close it. asyncio.run() and pytest-asyncio's runner call
    # loop.shutdown_asyncgens() before closing the loop, which finalises this generator and the client.
    async def closer() -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            await client.aclose()

    gen = closer()
    _closers[loop] = gen

    async def start() -> None:
        with contextlib.suppress(StopAsyncIteration):  # closed by close_client() before it started
            await gen.__anext__()

    loop.create_task(start())  # the generator itself is held in _closers
