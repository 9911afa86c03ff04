"""The shared upstream client against a real HTTP server on 127.0.0.1: pinning, streaming, errors, hygiene."""

from __future__ import annotations

import asyncio
import datetime
import gc
import gzip
import socket
import ssl

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey

from gateways.common import ssrf
from gateways.common.ssrf import SsrfBlocked
from gateways.common.transport import http_client
from gateways.common.transport.http_client import (
    Timeout,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnreachable,
    classify_upstream_error,
    get_client,
    send,
    strip_hop_by_hop,
)
from tests.gateways.common.conftest import GZIP_BODY, _start_upstream

LOOPBACK_ALLOW = ["127.0.0.0/8", "::1"]


async def get(url: str, **kwargs) -> http_client.UpstreamResponse:
    """A buffered GET, as the old client.get() was: body read, connection released."""
    response = await send("GET", url, **kwargs)
    try:
        await response.read()
    finally:
        await response.aclose()
    return response


@pytest.fixture
def allow_loopback(settings):
    settings.PROMPTGATE_SSRF_ALLOW = LOOPBACK_ALLOW


@pytest.fixture
def fake_dns(monkeypatch):
    answers: dict[str, list[str]] = {}

    async def getaddrinfo(host: str, port: int) -> list[str]:
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return answers[host]

    monkeypatch.setattr(ssrf, "getaddrinfo", getaddrinfo)
    return answers


async def test_one_client_per_loop():
    client = get_client()
    assert get_client() is client
    assert await http_client.open_client() is client
    await http_client.close_client()
    assert client.is_closed
    assert get_client() is not client


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "2130706433", "0x7f.0.0.1", "127.1", "[::1]"])
async def test_loopback_refused_unless_allowlisted(upstream, settings, host):
    settings.PROMPTGATE_SSRF_ALLOW = []
    with pytest.raises(SsrfBlocked) as info:
        await get(upstream.url("/echo", host=host))
    assert info.value.address_class == "loopback"
    assert upstream.seen == []
    assert classify_upstream_error(info.value) == (
        502,
        "ssrf_blocked",
        "upstream resolves to a loopback address",
    )


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_loopback_allowed_when_allowlisted(upstream, allow_loopback, host):
    response = await get(upstream.url("/echo/x", host=host))
    assert response.status == 200
    assert response.json()["path"] == "/echo/x"


async def test_dns_rebinding_cannot_reach_loopback(upstream, fake_dns, settings, monkeypatch):
    settings.PROMPTGATE_SSRF_ALLOW = []
    # A public answer first and loopback second: the whole host is refused, nothing is connected.
    fake_dns["rebind.example"] = ["93.184.216.34", "127.0.0.1"]
    with pytest.raises(SsrfBlocked):
        await get(f"http://rebind.example:{upstream.port}/echo")
    # An answer that flips between the save-time check and the connection: the request-time check
    # sees (and the connection uses) the answer of its own lookup.
    calls = []

    async def flipping(host: str, port: int) -> list[str]:
        calls.append(host)
        return ["93.184.216.34"] if len(calls) == 1 else ["127.0.0.1"]

    monkeypatch.setattr(ssrf, "getaddrinfo", flipping)
    assert await ssrf.resolve_checked("flip.example", 80) == ["93.184.216.34"]
    with pytest.raises(SsrfBlocked):
        await get(f"http://flip.example:{upstream.port}/echo")
    assert upstream.seen == []


async def test_connection_pinned_to_checked_address_host_kept(upstream, fake_dns, settings):
    # "pinned.example" exists only in the guard's answers: reaching the server proves aiohttp connected
    # to the address the guard checked instead of resolving again; the Host header keeps the name.
    settings.PROMPTGATE_SSRF_ALLOW = ["127.0.0.0/8"]
    fake_dns["pinned.example"] = ["127.0.0.1"]
    response = await get(f"http://pinned.example:{upstream.port}/echo")
    assert response.status == 200
    assert upstream.seen[-1]["host"] == f"pinned.example:{upstream.port}"


async def test_redirect_returned_as_is(upstream, allow_loopback):
    response = await get(upstream.url("/redirect"))
    assert response.status == 302
    assert response.headers["location"] == "http://127.0.0.1:1/elsewhere"
    assert len(upstream.seen) == 1


async def test_streaming_with_send_and_aiter_raw(upstream, allow_loopback):
    response = await send("GET", upstream.url("/stream"))
    try:
        assert response.status == 200
        chunks = [chunk async for chunk in response.aiter_raw()]
    finally:
        await response.aclose()
    assert b"".join(chunks) == b"".join(f"data: {i}\n\n".encode() for i in range(5))
    assert len(chunks) >= 2  # delivered as produced, not buffered whole


async def test_compressed_body_passes_byte_exact(upstream, allow_loopback):
    response = await send("GET", upstream.url("/gzip"), headers={"Accept-Encoding": "gzip"})
    raw = b"".join([chunk async for chunk in response.aiter_raw()])
    await response.aclose()
    assert response.headers["content-encoding"] == "gzip"
    assert raw == GZIP_BODY
    # Buffered reads still decode for callers that want JSON (the AI gateway).
    decoded = await get(upstream.url("/gzip"), headers={"Accept-Encoding": "gzip"})
    assert await decoded.read() == gzip.decompress(GZIP_BODY)
    # A bounded read bounds the decoded size too (no decompression bomb).
    bounded = await send("GET", upstream.url("/gzip"), headers={"Accept-Encoding": "gzip"})
    with pytest.raises(http_client.BodyTooLarge):
        await bounded.read(10)
    await bounded.aclose()
    cut = await send("GET", upstream.url("/gzip"), headers={"Accept-Encoding": "gzip"})
    assert await cut.read(10, truncate=True) == gzip.decompress(GZIP_BODY)[:10]
    await cut.aclose()


async def test_no_accept_encoding_added_and_headers_and_path_exact(upstream, allow_loopback):
    headers = [("X-Dup", "one"), ("X-Dup", "two")]
    response = await get(upstream.url("/echo/a/%2e%2e/b%2Fc?q=%41"), headers=headers)
    data = response.json()
    names = [name.lower() for name, _ in data["headers"]]
    assert "accept-encoding" not in names
    assert [v for n, v in data["headers"] if n.lower() == "x-dup"] == ["one", "two"]
    assert data["path"] == "/echo/a/%2e%2e/b%2Fc?q=%41"


async def test_nothing_added_to_a_body_the_caller_did_not_describe(upstream, allow_loopback):
    # aiohttp would add Content-Type: application/octet-stream; the gateway forwards only what it was given.
    posted = await send("POST", upstream.url("/echo"), content=b"raw")
    await posted.read()
    await posted.aclose()
    names = [name.lower() for name, _ in posted.json()["headers"]]
    assert "content-type" not in names and "accept-encoding" not in names
    assert {n.lower(): v for n, v in posted.json()["headers"]}["user-agent"] == "PromptGate"
    assert posted.json()["body_len"] == 3


async def test_cookies_never_persist_across_requests(upstream, allow_loopback):
    first = await get(upstream.url("/cookie"))
    assert len(first.headers.getall("set-cookie")) == 2  # passed through to the caller
    assert len([v for k, v in first.raw_headers if k.lower() == b"set-cookie"]) == 2
    second = await get(upstream.url("/echo"))
    assert "cookie" not in [name.lower() for name, _ in second.json()["headers"]]


async def test_streamed_request_body(upstream, allow_loopback):
    async def body():
        for _ in range(4):
            yield b"y" * 10_000

    response = await send(
        "POST", upstream.url("/echo"), content=body(), headers=[("Transfer-Encoding", "chunked")]
    )
    assert response.status == 200
    assert (await response.read()) and response.json()["body_len"] == 40_000
    await response.aclose()


async def test_hanging_upstream_times_out(upstream, allow_loopback):
    with pytest.raises(UpstreamTimeout) as info:
        await get(upstream.url("/hang"), timeout=Timeout(0.3, connect=1))
    assert classify_upstream_error(info.value) == (
        504,
        "upstream_timeout",
        "upstream did not respond in time",
    )


async def test_refused_connection_is_unreachable(allow_loopback):
    with pytest.raises(UpstreamUnreachable) as info:
        await get("http://127.0.0.1:1/secret?api_key=sk-123")
    status, code, message = classify_upstream_error(info.value)
    assert (status, code) == (502, "upstream_unreachable")
    assert message == "upstream refused the connection"
    assert "sk-123" not in str(info.value) and "127.0.0.1" not in str(info.value)


async def test_dns_failure_is_unreachable(fake_dns):
    with pytest.raises(UpstreamUnreachable) as info:
        await get("http://nowhere.example/?token=abc")
    assert classify_upstream_error(info.value) == (
        502,
        "upstream_unreachable",
        "upstream host name does not resolve",
    )


async def test_aborted_streams_release_connections(upstream, allow_loopback):
    for _ in range(60):
        response = await send("GET", upstream.url("/big"))
        async for _chunk in response.aiter_raw():
            break  # the client walks away after the first chunk
        await response.aclose()
    for _ in range(20):
        response = await send("GET", upstream.url("/big"))
        await response.aclose()  # closed before the first byte is read
    ok = await asyncio.wait_for(get(upstream.url("/echo"), timeout=Timeout(2)), timeout=3)
    assert ok.status == 200
    assert len(get_client().session._acquired) == 0


async def test_concurrent_requests_share_the_pool(upstream, allow_loopback):
    responses = await asyncio.gather(*(get(upstream.url(f"/echo/{i}")) for i in range(50)))
    assert [r.json()["path"] for r in responses] == [f"/echo/{i}" for i in range(50)]
    assert len(get_client().session._conns) >= 1  # pooled, reused


def test_lazily_opened_client_closes_with_its_loop(allow_loopback):
    # No lifespan: asyncio.run() finalises the loop's async generators, which closes the client
    # (an unclosed aiohttp session would raise ResourceWarning, an error under this test config).
    async def main():
        client = get_client()
        runner, upstream = await _start_upstream()
        try:
            assert (await get(upstream.url("/echo"))).status == 200
        finally:
            await runner.cleanup()
        return client

    client = asyncio.run(main())
    gc.collect()
    assert client.is_closed


def test_strip_hop_by_hop_str_and_bytes():
    headers = [
        ("Content-Type", "application/json"),
        ("Connection", "keep-alive, X-Secret"),
        ("X-Secret", "s3cret"),
        ("Keep-Alive", "timeout=5"),
        ("Transfer-Encoding", "chunked"),
        ("Upgrade", "h2c"),
        ("Proxy-Authorization", "Basic abc"),
        ("TE", "trailers"),
        ("X-Kept", "1"),
    ]
    assert strip_hop_by_hop(headers) == [("Content-Type", "application/json"), ("X-Kept", "1")]
    raw = [(k.lower().encode(), v.encode()) for k, v in headers]
    assert strip_hop_by_hop(raw) == [(b"content-type", b"application/json"), (b"x-kept", b"1")]
    assert strip_hop_by_hop({"connection": "close", "a": "b"}) == [("a", "b")]


def test_classify_upstream_error_never_leaks():
    key = ConnectionKey("api.example.com", 443, True, True, None, None, None)
    secret_os_error = OSError(111, "boom https://user:pw@api.example.com/v1?key=sk-secret")
    for exc in (
        aiohttp.ClientConnectorError(key, secret_os_error),
        aiohttp.ClientConnectorDNSError(key, OSError(-2, "api.example.com sk-secret")),
        aiohttp.ServerDisconnectedError("reset sk-secret"),
        aiohttp.ClientOSError(104, "Connection reset by peer sk-secret"),
        aiohttp.ClientPayloadError("garbage sk-secret"),
        aiohttp.InvalidURL("https://user:pw@api.example.com/v1?key=sk-secret"),
        ConnectionRefusedError("sk-secret"),
        RuntimeError("sk-secret"),
    ):
        status, code, message = classify_upstream_error(exc)
        assert status == 502 and code in ("upstream_unreachable", "upstream_error")
        assert "sk-secret" not in message and "example.com" not in message
        assert str(http_client.as_upstream_error(exc)) == message
    assert classify_upstream_error(aiohttp.ConnectionTimeoutError("x"))[:2] == (504, "upstream_timeout")
    assert classify_upstream_error(aiohttp.SocketTimeoutError("x"))[:2] == (504, "upstream_timeout")
    assert classify_upstream_error(TimeoutError())[:2] == (504, "upstream_timeout")
    assert classify_upstream_error(aiohttp.ServerDisconnectedError())[1] == "upstream_error"
    assert classify_upstream_error(ConnectionRefusedError())[1] == "upstream_unreachable"
    blocked = SsrfBlocked(
        "upstream resolves to a loopback address (127.0.0.1)", "loopback", address="127.0.0.1"
    )
    wrapped = UpstreamError("upstream request failed")
    wrapped.__cause__ = blocked
    assert classify_upstream_error(wrapped) == (
        502,
        "ssrf_blocked",
        "upstream resolves to a loopback address",
    )


def _tls_material(tmp_path, name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A throwaway CA and a server certificate for `name`; returns (server, client) contexts."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    client = ssl.create_default_context(cadata=cert_pem.decode())
    return server, client


async def test_tls_keeps_server_name_while_pinned(tmp_path, fake_dns, settings):
    # The socket goes to the checked 127.0.0.1, yet SNI and certificate checks use the URL's name.
    settings.PROMPTGATE_SSRF_ALLOW = ["127.0.0.0/8"]
    fake_dns["tls.example"] = ["127.0.0.1"]
    server_ctx, client_ctx = _tls_material(tmp_path, "tls.example")
    seen_sni: list[str | None] = []
    server_ctx.sni_callback = lambda sock, name, ctx: seen_sni.append(name)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    client = http_client.build_client(ssl_context=client_ctx)
    try:
        response = await client.send("GET", f"https://tls.example:{port}/")
        assert response.status == 200 and await response.read() == b"ok"
        await response.aclose()
        assert seen_sni == ["tls.example"]
        with pytest.raises(UpstreamError):  # a certificate for another name is refused
            fake_dns["other.example"] = ["127.0.0.1"]
            await client.send("GET", f"https://other.example:{port}/")
    finally:
        await client.aclose()
        server.close()
        await server.wait_closed()


async def test_close_right_after_open_is_clean():
    client = get_client()
    await http_client.close_client()  # before the loop-shutdown hook even started
    await asyncio.sleep(0)
    assert client.is_closed
