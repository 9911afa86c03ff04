"""The data plane's one HTTP client: a small typed facade over aiohttp, SSRF-pinned, one per event loop."""

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
import orjson
import yarl
from aiohttp.abc import AbstractResolver, ResolveResult
from django.conf import settings
from multidict import CIMultiDictProxy

from gateways.common import ssrf
from gateways.common.http import HOP_BY_HOP, strip_hop_by_hop  # noqa: F401  # re-exported

USER_AGENT = "PromptGate"
CHUNK_SIZE = 64 * 1024

Headers = Mapping[str, str] | Iterable[tuple[str, str]]
Body = bytes | AsyncIterable[bytes] | None


# ---- errors: URL-free messages, one (status, code) each -------------------------------------------


class UpstreamError(Exception):
    """A failed upstream call. str() names no URL, host or credential: callers may log or show it."""

    status = 502
    code = "upstream_error"


class UpstreamTimeout(UpstreamError):
    status = 504
    code = "upstream_timeout"


class UpstreamUnreachable(UpstreamError):
    code = "upstream_unreachable"


class InvalidUpstreamURL(UpstreamError):
    """A URL the client cannot use (stored by an operator): the upstream's fault, so a 502."""


class BodyTooLarge(UpstreamError):
    """read(max_bytes=...) met a longer body."""


def as_upstream_error(exc: BaseException) -> UpstreamError:
    """aiohttp's, asyncio's and the OS's failures as ours, with messages free of URLs."""
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
    if isinstance(exc, aiohttp.ClientResponseError | aiohttp.ClientPayloadError):
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
    pooled slot (added to connect, as aiohttp counts both). No total: long streams stay open while alive.
    """

    read: float
    connect: float | None = None  # None: min(read, 10)
    pool: float | None = None  # None: read
    client_timeout: aiohttp.ClientTimeout = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        connect = min(self.read, 10.0) if self.connect is None else self.connect
        pool = self.read if self.pool is None else self.pool
        # Built once per Timeout: the hot path reuses it instead of making one per request.
        value = aiohttp.ClientTimeout(
            total=None, connect=connect + pool, sock_connect=connect, sock_read=self.read
        )
        object.__setattr__(self, "client_timeout", value)


DEFAULT_TIMEOUT = Timeout(30.0, connect=10.0, pool=10.0)


@lru_cache(maxsize=256)
def timeout(seconds: float) -> Timeout:
    """The usual per-endpoint timeout (read `seconds`, connect at most 10 s), shared across requests."""
    return Timeout(seconds)


# What may not appear raw in a request line: controls, space, non-ASCII and a few delimiters.
_UNSAFE = re.compile(r"[\x00-\x20\x7f-\U0010ffff\"<>\\^`{|}]")


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
        valid = parsed.scheme in ("http", "https") and bool(parsed.raw_host) and parsed.port is not None
    except (ValueError, UnicodeError):
        valid = False
    if not valid:
        raise InvalidUpstreamURL("upstream URL is not valid")
    return parsed


class UpstreamResponse:
    """Status and headers of an upstream answer; the body is read on demand. Always aclose() it."""

    __slots__ = ("_body", "_response", "headers", "raw_headers", "status")

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status: int = response.status
        self.headers: CIMultiDictProxy[str] = response.headers
        self.raw_headers: tuple[tuple[bytes, bytes], ...] = response.raw_headers
        self._body: bytes | None = None

    def aiter_raw(self) -> AsyncIterator[bytes]:
        """The body as it arrives, byte-exact (still compressed if the upstream compressed it)."""
        return _RawChunks(self._response.content)

    async def read(self, max_bytes: int | None = None, *, truncate: bool = False) -> bytes:
        """The whole body, decoded from gzip/deflate. Past `max_bytes`: BodyTooLarge, or the first
        `max_bytes` bytes when `truncate`."""
        if self._body is not None:
            return self._body
        content = self._response.content
        chunks: list[bytes] = []
        size = 0
        try:
            while chunk := await content.readany():
                size += len(chunk)
                chunks.append(chunk)
                if max_bytes is not None and size > max_bytes:
                    if not truncate:
                        raise BodyTooLarge("upstream response is too large")
                    break
        except _MAPPED as exc:
            raise as_upstream_error(exc) from exc
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        encoding = self.headers.get("content-encoding")
        if encoding:
            body = _decode(body, encoding.strip().lower(), max_bytes or 0)
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
        # release() closes a half-read connection instead of pooling it, so nothing leaks.
        self._response.release()


class _RawChunks:
    """An async iterator over the body (a class, not a generator: one frame less per chunk)."""

    __slots__ = ("_content",)

    def __init__(self, content: aiohttp.StreamReader) -> None:
        self._content = content

    def __aiter__(self) -> _RawChunks:
        return self

    async def __anext__(self) -> bytes:
        try:
            chunk = await self._content.read(CHUNK_SIZE)
        except _MAPPED as exc:
            raise as_upstream_error(exc) from exc
        if not chunk:
            raise StopAsyncIteration
        return chunk


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
    """One aiohttp session with the gateway's guarantees; use get_client() for the shared one."""

    __slots__ = ("session",)

    def __init__(self, session: aiohttp.ClientSession) -> None:
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
        target = url if isinstance(url, yarl.URL) else parse_url(url)
        # aiohttp skips the resolver for IP literals, so those are checked here; names go to PinnedResolver.
        ssrf.check_host(target.raw_host or "")
        if content is not None and not isinstance(content, bytes):
            # aiohttp frames a streamed body itself (chunked); a caller's framing header would clash.
            headers = [(k, v) for k, v in _pairs(headers) if k.lower() != "transfer-encoding"]
        try:
            response = await self.session.request(
                method,
                target,
                headers=headers,  # type: ignore[arg-type]  # any pairs: CIMultiDict() takes them
                data=content,
                allow_redirects=False,
                timeout=timeout.client_timeout,
            )
        except _MAPPED as exc:
            raise as_upstream_error(exc) from exc
        return UpstreamResponse(response)

    async def aclose(self) -> None:
        await self.session.close()


def _pairs(headers: Headers) -> Iterable[tuple[str, str]]:
    return headers.items() if isinstance(headers, Mapping) else headers


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


# ---- pinning and lifecycle -----------------------------------------------------------------------


class PinnedResolver(AbstractResolver):
    """aiohttp resolver that only yields SSRF-checked addresses, so the socket goes where we checked."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results: list[ResolveResult] = []
        for address in await ssrf.resolve_checked(host, port):
            address_family = socket.AF_INET6 if ":" in address else socket.AF_INET
            if family not in (socket.AF_UNSPEC, address_family):
                continue
            results.append(
                {
                    "hostname": host,
                    "host": address,
                    "port": port,
                    "family": address_family,
                    "proto": 0,
                    "flags": socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
                }
            )
        if not results:
            raise socket.gaierror(socket.EAI_NONAME, "no address of the requested family")
        return results

    async def close(self) -> None:
        return None


def build_client(ssl_context: ssl.SSLContext | None = None) -> Client:
    """A new client (certifi CAs unless `ssl_context`); the data plane shares one per loop: get_client()."""
    connector = aiohttp.TCPConnector(
        resolver=PinnedResolver(),
        # No DNS cache: allowlist changes apply at once, and pooled connections already pin an address.
        use_dns_cache=False,
        # Each upstream connection serves one inbound request; inbound concurrency is the real bound.
        limit=getattr(settings, "PROMPTGATE_UPSTREAM_MAX_CONNECTIONS", 0),
        limit_per_host=getattr(settings, "PROMPTGATE_UPSTREAM_MAX_PER_HOST", 1024),
        keepalive_timeout=30,
        # The environment's CA settings (SSL_CERT_FILE...) are ignored, like every other env setting.
        ssl=ssl_context or ssl.create_default_context(cafile=certifi.where()),
    )
    session = aiohttp.ClientSession(
        connector=connector,
        # One client serves every tenant: a cookie set by one upstream must never reach another call.
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,  # no proxy or netrc from the environment
        auto_decompress=False,
        headers={"User-Agent": USER_AGENT},
        # Accept-Encoding and Content-Type are the caller's choice: nothing the caller did not send.
        skip_auto_headers=("Accept-Encoding", "Content-Type"),
        timeout=DEFAULT_TIMEOUT.client_timeout,
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
