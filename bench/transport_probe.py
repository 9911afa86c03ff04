"""Transport probe: the data plane's aiohttp facade vs httpx (own transport, over aiohttp) vs raw aiohttp."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time

BODY = b'{"ok":true}'
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
    + str(len(BODY)).encode()
    + b"\r\n\r\n"
    + BODY
)
DURATION = float(os.environ.get("PROBE_SECONDS", "3"))
CONCURRENCY = 32


class _Upstream(asyncio.Protocol):
    """Minimal keep-alive HTTP/1.1 server: one canned response per request head (GETs only)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            _, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            self.transport.write(RESPONSE)  # type: ignore[attr-defined]  # a stream transport


async def serve(sock: socket.socket) -> None:
    server = await asyncio.get_running_loop().create_server(_Upstream, sock=sock)
    async with server:
        await server.serve_forever()


async def _measure(get, concurrency: int) -> tuple[float, float]:
    """(requests per second, client CPU microseconds per request)."""
    count = 0
    deadline = time.perf_counter() + DURATION
    cpu = time.process_time()

    async def worker() -> None:
        nonlocal count
        while time.perf_counter() < deadline:
            await get()
            count += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return count / (time.perf_counter() - start), (time.process_time() - cpu) / count * 1e6


async def probe(port: int) -> None:
    # Imported here: only this comparison needs the optional clients (and httpx stays out of the app).
    import aiohttp
    import httpx

    from gateways.common.transport import http_client

    url = f"http://127.0.0.1:{port}/"
    default = httpx.AsyncClient(timeout=10, limits=httpx.Limits(max_connections=64))
    facade = http_client.build_client()
    # Imported here: only this comparison needs the optional clients (and httpx stays out of the app).
    from httpx_aiohttp import AiohttpTransport

    stock = httpx.AsyncClient(transport=AiohttpTransport(client=aiohttp.ClientSession()), timeout=10)
    raw = aiohttp.ClientSession()

    async def raw_get() -> None:
        async with raw.get(url) as response:
            await response.read()

    async def facade_get() -> None:
        response = await facade.send("GET", url)
        try:
            await response.read()
        finally:
            await response.aclose()

    async def httpx_get(client: httpx.AsyncClient):
        async def get() -> None:
            (await client.get(url)).raise_for_status()

        return get

    cases = [
        ("httpx default transport", await httpx_get(default)),
        ("aiohttp facade (http_client, pinned)", facade_get),
        ("httpx + stock AiohttpTransport (no guard)", await httpx_get(stock)),
        ("raw aiohttp (reference)", raw_get),
    ]
    print(f"{'client':45} {'sequential':>22} {'32 in flight':>22}")
    for name, get in cases:
        await get()  # warm the pool
        (seq, seq_cpu), (conc, conc_cpu) = await _measure(get, 1), await _measure(get, CONCURRENCY)
        print(
            f"{name:45} {seq:>8,.0f} r/s {seq_cpu:>5.0f} us/req {conc:>8,.0f} r/s {conc_cpu:>5.0f} us/req",
            flush=True,
        )
    await default.aclose()
    await facade.aclose()
    await stock.aclose()
    await raw.close()


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--serve":
        sock = socket.socket(fileno=int(sys.argv[2]))
        asyncio.run(serve(sock))
        return
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "promptgate.settings")
    os.environ.setdefault("DEBUG", "1")
    os.environ["PROMPTGATE_SSRF_ALLOW"] = "127.0.0.0/8"  # the probe's upstream is loopback by design
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    # The upstream runs in its own process so it does not share a core's event loop with the client.
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(sock.fileno())], pass_fds=[sock.fileno()]
    )
    try:
        asyncio.run(probe(sock.getsockname()[1]))
    finally:
        server.terminate()
        server.wait(timeout=5)


if __name__ == "__main__":
    main()
