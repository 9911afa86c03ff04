"""The h1 client under the facade against raw servers on 127.0.0.1: framing, keep-alive, back-pressure, TLS, SSRF."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from gateways.common import ssrf
from gateways.common.ssrf import SsrfBlocked
from gateways.common.transport import h1, http_client
from gateways.common.transport.http_client import (
    InvalidRequestHeader,
    Timeout,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from tests.gateways.common.transport.test_http_client import _tls_material

LOOPBACK_ALLOW = ["127.0.0.0/8", "::1"]
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "RawServer"], Awaitable[None]]


@dataclass
class RawServer:
    """A scripted HTTP/1.1 server: one handler call per accepted connection."""

    port: int = 0
    connections: int = 0
    heads: list[bytes] = field(default_factory=list)  # every request head received, in order
    bodies: list[bytes] = field(default_factory=list)
    written: int = 0  # body bytes a streaming handler got past drain()
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    def url(self, path: str = "/", host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"


async def read_request(reader: asyncio.StreamReader, server: RawServer) -> bool:
    """Read one request (head and body, either framing) into `server`; False at EOF."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return False
    lower = head.lower()
    body = b""
    if match := re.search(rb"\r\ncontent-length: *(\d+)", lower):
        body = await reader.readexactly(int(match.group(1)))
    elif b"\r\ntransfer-encoding: chunked" in lower:
        while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
            body += (await reader.readexactly(size + 2))[:-2]
        await reader.readuntil(b"\r\n")
    server.heads.append(head)
    server.bodies.append(body)
    return True


def ok(body: bytes = b"ok", extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%b\r\n%b" % (len(body), extra, body)


async def keep_alive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: RawServer) -> None:
    while await read_request(reader, server):
        writer.write(ok(b"hello %d" % len(server.heads)))
        await writer.drain()


@pytest.fixture
async def serve(settings) -> AsyncIterator[Callable[..., Awaitable[RawServer]]]:
    settings.PROMPTGATE_SSRF_ALLOW = LOOPBACK_ALLOW
    servers: list[tuple[asyncio.Server, RawServer]] = []

    async def start(handler: Handler, **kwargs) -> RawServer:
        state = RawServer()

        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            state.connections += 1
            state.writers.append(writer)
            try:
                await handler(reader, writer, state)
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(on_connect, "127.0.0.1", 0, **kwargs)
        state.port = server.sockets[0].getsockname()[1]
        servers.append((server, state))
        return state

    yield start
    for server, state in servers:
        server.close()
        for writer in state.writers:
            writer.close()
        await server.wait_closed()
    await asyncio.sleep(0.01)  # let the handlers' transports finish closing


@pytest.fixture
async def client() -> AsyncIterator[http_client.Client]:
    client = http_client.build_client()
    yield client
    await client.aclose()


async def fetch(client: http_client.Client, url: str, **kwargs) -> tuple[int, bytes]:
    response = await client.send(kwargs.pop("method", "GET"), url, **kwargs)
    try:
        return response.status, await response.read()
    finally:
        await response.aclose()


async def test_sequential_requests_share_one_connection(serve, client):
    server = await serve(keep_alive)
    for i in range(1, 6):
        assert await fetch(client, server.url(f"/{i}")) == (200, b"hello %d" % i)
    assert server.connections == 1
    assert len(client.session._acquired) == 0  # type: ignore[attr-defined]
    # Our own framing and defaults: Host with the port, User-Agent, no Accept-Encoding.
    head = server.heads[0].decode().lower()
    assert head.startswith("get /1 http/1.1\r\n")
    assert f"\r\nhost: 127.0.0.1:{server.port}\r\n" in head and "\r\nuser-agent: promptgate\r\n" in head
    assert "accept-encoding" not in head and "content-length" not in head


async def test_request_framing_is_ours(serve, client):
    server = await serve(keep_alive)
    forged = [("Content-Length", "999"), ("Transfer-Encoding", "gzip"), ("X-Dup", "1"), ("X-Dup", "2")]
    await fetch(client, server.url(), method="POST", content=b"abc", headers=forged)

    async def parts() -> AsyncIterator[bytes]:
        yield b"one-"
        yield b""  # an empty chunk would end a chunked body: it is skipped
        yield b"two"

    await fetch(client, server.url(), method="PUT", content=parts(), headers=forged)
    await fetch(client, server.url(), method="POST")
    assert server.bodies == [b"abc", b"one-two", b""]
    first, second, third = (head.decode().lower() for head in server.heads)
    # The forged Content-Length is gone (not "999" anywhere: the server's port may hold those digits).
    assert "content-length: 3\r\n" in first and first.count("content-length") == 1
    assert "transfer-encoding" not in first
    assert first.count("x-dup:") == 2
    assert "transfer-encoding: chunked\r\n" in second and "content-length" not in second
    assert "content-length: 0\r\n" in third
    assert server.connections == 1


@pytest.mark.parametrize(
    "headers",
    [
        {"X-A": "a\r\nX-Evil: 1"},
        {"X-A": "a\nX-Evil: 1"},
        {"X-A": "a\rb"},
        {"X-A": "a\x00b"},
        {"X-A": "a\x1bb"},
        {"X-Evil: 1\r\nX-A": "b"},
        {"X A": "b"},
        {"X-A:": "b"},
        {"": "b"},
    ],
)
async def test_header_injection_is_refused_before_connecting(serve, client, headers):
    server = await serve(keep_alive)
    with pytest.raises(InvalidRequestHeader) as info:
        await client.send("GET", server.url(), headers=headers)
    assert http_client.classify_upstream_error(info.value)[:2] == (502, "upstream_error")
    with pytest.raises(InvalidRequestHeader):
        await client.send("GET\r\nX-Evil: 1", server.url())
    assert server.connections == 0
    # A TAB and non-ASCII text are fine in a value.
    assert (await fetch(client, server.url(), headers={"X-A": "a\tb é"}))[0] == 200


async def test_chunked_response(serve, client):
    async def chunked(reader, writer, server):
        while await read_request(reader, server):
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for part in (b"alpha", b"-", b"omega"):
                writer.write(b"%x\r\n%b\r\n" % (len(part), part))
                await writer.drain()
                await asyncio.sleep(0.01)
            writer.write(b"0\r\nX-Trailer: t\r\n\r\n")
            await writer.drain()

    server = await serve(chunked)
    response = await client.send("GET", server.url())
    chunks = [chunk async for chunk in response.aiter_raw()]
    await response.aclose()
    assert b"".join(chunks) == b"alpha-omega" and len(chunks) >= 2
    assert await fetch(client, server.url()) == (200, b"alpha-omega")
    assert server.connections == 1  # a chunked body ends by itself: the connection is kept


async def test_received_whole_only_when_the_body_is_complete(serve, client):
    release = asyncio.Event()

    async def split(reader, writer, server):
        while await read_request(reader, server):
            if server.heads[-1].startswith(b"GET /whole "):
                writer.write(ok(b"all of it"))  # head and body in one write
            else:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nall ")
                await writer.drain()
                await release.wait()
                writer.write(b"of it")
            await writer.drain()

    server = await serve(split)
    response = await client.send("GET", server.url("/whole"))
    for _ in range(50):  # the body may still be on its way: wait for it, not for a fixed time
        if (body := response.received_whole()) is not None:
            break
        await asyncio.sleep(0.01)
    assert body == b"all of it"
    await response.aclose()
    response = await client.send("GET", server.url("/split"))
    assert response.received_whole() is None  # 4 of 9 bytes: nothing consumed
    release.set()
    assert await response.read() == b"all of it"
    await response.aclose()


async def test_close_delimited_response(serve, client):
    async def until_close(reader, writer, server):
        await read_request(reader, server)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nfirst part, ")
        await writer.drain()
        await asyncio.sleep(0.02)
        writer.write(b"then the end")
        await writer.drain()
        writer.close()

    server = await serve(until_close)
    assert await fetch(client, server.url()) == (200, b"first part, then the end")
    assert await fetch(client, server.url()) == (200, b"first part, then the end")
    assert server.connections == 2  # the body ended with its connection


async def test_head_204_304_and_interim_1xx_have_no_body(serve, client):
    async def answers(reader, writer, server):
        while await read_request(reader, server):
            method, path = server.heads[-1].split(b" ")[:2]
            if method == b"HEAD":
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n")
            elif path == b"/204":
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
            elif path == b"/304":
                writer.write(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n")
            else:
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n")
                writer.write(ok(b"final"))
            await writer.drain()

    server = await serve(answers)
    assert await fetch(client, server.url("/204")) == (204, b"")
    assert await fetch(client, server.url("/304")) == (304, b"")
    response = await client.send("GET", server.url("/1xx"))
    assert response.status == 200 and await response.read() == b"final"
    assert "link" not in response.headers  # the interim answers' headers are not the response's
    await response.aclose()
    assert server.connections == 1
    head = await client.send("HEAD", server.url())
    assert head.status == 200 and head.headers["content-length"] == "10" and await head.read() == b""
    await head.aclose()
    # After HEAD the parser would wait for a body: that connection is closed, the next one is new.
    assert await fetch(client, server.url("/204")) == (204, b"")
    assert server.connections == 2


async def test_early_close_with_unread_body_closes_the_connection(serve, client):
    async def big(reader, writer, server):
        while await read_request(reader, server):
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\n\r\n" + b"x" * 65536)
            await writer.drain()
            await asyncio.sleep(3600)  # the rest never comes: only a closed connection ends this

    server = await serve(big)
    for _ in range(3):
        response = await client.send("GET", server.url())
        async for _chunk in response.aiter_raw():
            break
        await response.aclose()
    assert server.connections == 3  # never reused with a body half on the wire
    assert len(client.session._acquired) == 0  # type: ignore[attr-defined]
    assert sum(len(idle) for idle in client.session._conns.values()) == 0  # type: ignore[attr-defined]


async def test_dead_pooled_connection_is_retried_once_for_idempotent_methods(serve, client):
    async def dies_after_first(reader, writer, server):
        # The keep-alive race: the first answer keeps the connection, then the server drops it just
        # as the next request arrives, without a byte of answer.
        if await read_request(reader, server):
            writer.write(ok(b"one"))
            await writer.drain()
        if await read_request(reader, server):
            writer.transport.abort()

    server = await serve(dies_after_first)
    assert await fetch(client, server.url("/a")) == (200, b"one")
    assert await fetch(client, server.url("/b"), method="PUT", content=b"payload") == (200, b"one")
    assert server.connections == 2
    assert [head.split(b" ")[1] for head in server.heads] == [b"/a", b"/b", b"/b"]
    assert server.bodies[-1] == b"payload"

    # POST is not idempotent: the upstream may have acted on it (a chat completion billed), so no replay.
    posted = await serve(dies_after_first)
    assert await fetch(client, posted.url("/a")) == (200, b"one")
    with pytest.raises(UpstreamError, match="upstream closed the connection"):
        await fetch(client, posted.url("/b"), method="POST", content=b"payload")
    assert [head.split(b" ")[1] for head in posted.heads] == [b"/a", b"/b"]
    assert posted.connections == 1

    # A streamed body is not replayed, and a fresh connection that dies is not retried either.
    async def body() -> AsyncIterator[bytes]:
        yield b"streamed"

    with pytest.raises(UpstreamError, match="upstream closed the connection"):
        await fetch(client, server.url("/c"), method="POST", content=body())
    assert server.connections == 2

    async def dies_at_once(reader, writer, server):
        await read_request(reader, server)
        writer.transport.abort()

    dead = await serve(dies_at_once)
    with pytest.raises(UpstreamError, match="upstream closed the connection"):
        await fetch(client, dead.url())
    assert dead.connections == 1


async def test_slow_consumer_pauses_reading(serve, client):
    total = 64 * 1024 * 1024

    async def firehose(reader, writer, server):
        await read_request(reader, server)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % total)
        chunk = b"z" * 65536
        while server.written < total:
            writer.write(chunk)
            await writer.drain()
            server.written += len(chunk)

    server = await serve(firehose)
    response = await client.send("GET", server.url())
    first = await response.next_chunk()
    await asyncio.sleep(0.5)  # the consumer lags; the server writes as fast as it can
    assert response._buffered <= h1.HIGH_WATER + 1024 * 1024  # one socket read past the mark at most
    assert server.written < total // 4  # TCP pushed back: the server is stuck in drain()
    received = len(first)
    async for chunk in response.aiter_raw():  # reading on resumes the socket
        received += len(chunk)
    await response.aclose()
    assert received == total


async def test_read_timeout_mid_body_and_pool_timeout(serve, client):
    async def stalls(reader, writer, server):
        await read_request(reader, server)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        await writer.drain()
        await asyncio.sleep(3600)

    server = await serve(stalls)
    response = await client.send("GET", server.url(), timeout=Timeout(0.2))
    with pytest.raises(UpstreamTimeout):
        await response.read()
    await response.aclose()

    tight = http_client.build_client()
    tight.session._limit_per_host = 1  # type: ignore[attr-defined]
    try:
        held = await tight.send("GET", server.url())
        with pytest.raises(UpstreamTimeout, match="connection to upstream timed out"):
            await tight.send("GET", server.url(), timeout=Timeout(5, connect=0.1, pool=0.1))
        await held.aclose()  # its slot is free again
        again = await tight.send("GET", server.url(), timeout=Timeout(5, connect=1, pool=1))
        await again.aclose()
    finally:
        await tight.aclose()


async def test_invalid_response_is_an_upstream_error(serve, client):
    async def garbage(reader, writer, server):
        await read_request(reader, server)
        writer.write(b"SMTP ready\r\n\r\n")
        await writer.drain()

    async def endless_headers(reader, writer, server):
        await read_request(reader, server)
        writer.write(b"HTTP/1.1 200 OK\r\n")
        with contextlib.suppress(ConnectionError):
            while True:
                writer.write(b"X-Filler: " + b"f" * 1000 + b"\r\n")
                await writer.drain()

    for handler in (garbage, endless_headers):
        server = await serve(handler)
        with pytest.raises(UpstreamError, match="invalid response"):
            await client.send("GET", server.url())


async def test_tls_with_a_self_signed_certificate(serve, tmp_path, settings, monkeypatch):
    async def getaddrinfo(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    monkeypatch.setattr(ssrf, "getaddrinfo", getaddrinfo)
    server_ctx, client_ctx = _tls_material(tmp_path, "tls.example")
    server = await serve(keep_alive, ssl=server_ctx)
    tls = http_client.build_client(ssl_context=client_ctx)
    default = http_client.build_client()  # certifi's CAs: the self-signed certificate is refused
    try:
        for _ in range(3):
            status, body = await fetch(tls, server.url(host="tls.example", scheme="https"))
            assert status == 200 and body.startswith(b"hello")
        assert server.connections == 1  # kept alive over TLS too
        with pytest.raises(UpstreamUnreachable):
            await fetch(default, server.url(host="tls.example", scheme="https"))
    finally:
        await tls.aclose()
        await default.aclose()


async def test_ssrf_refuses_private_addresses_unless_allowlisted(serve, client, settings, monkeypatch):
    answers = {"inside.example": ["127.0.0.1"], "private.example": ["10.0.0.7"]}

    async def getaddrinfo(host: str, port: int) -> list[str]:
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return answers[host]

    monkeypatch.setattr(ssrf, "getaddrinfo", getaddrinfo)
    server = await serve(keep_alive)
    assert (await fetch(client, server.url(host="inside.example")))[0] == 200  # allowlisted: pooled
    settings.PROMPTGATE_SSRF_ALLOW = []
    for host in ("127.0.0.1", "inside.example", "private.example", "[::1]"):
        with pytest.raises(SsrfBlocked):
            await fetch(client, server.url(host=host))
    # The pooled connection was checked under the old allowlist: it is not reused under the new one.
    assert server.connections == 1 and len(server.heads) == 1
    blocked = http_client.classify_upstream_error(SsrfBlocked("x", "private"))
    assert blocked[:2] == (502, "ssrf_blocked")
