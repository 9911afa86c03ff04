"""Fixtures for the shared gateway core: a real HTTP upstream on 127.0.0.1, clean per-test network state,
and the data plane (the real ASGI application, its lifespan run around each test)."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from aiohttp import web

from gateways.common import redis_clients
from gateways.common.runtime import Runtime
from gateways.common.transport import http_client
from promptgate.asgi import PromptGateApplication

GZIP_BODY = gzip.compress(b'{"hello": "compressed"}' * 20)


@dataclass
class Upstream:
    port: int
    seen: list[dict] = field(default_factory=list)

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


async def _start_upstream() -> tuple[web.AppRunner, Upstream]:
    upstream = Upstream(port=0)

    async def record(request: web.Request) -> None:
        upstream.seen.append(
            {"path": request.raw_path, "host": request.host, "headers": list(request.raw_headers)}
        )

    async def echo(request: web.Request) -> web.Response:
        await record(request)
        body = await request.read()
        headers = [[k.decode(), v.decode()] for k, v in request.raw_headers]
        return web.json_response({"path": request.raw_path, "headers": headers, "body_len": len(body)})

    async def redirect(request: web.Request) -> web.Response:
        await record(request)
        return web.Response(status=302, headers={"Location": "http://127.0.0.1:1/elsewhere"})

    async def stream(request: web.Request) -> web.StreamResponse:
        await record(request)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for i in range(5):
            await response.write(f"data: {i}\n\n".encode())
            await asyncio.sleep(0.02)
        await response.write_eof()
        return response

    async def big(request: web.Request) -> web.StreamResponse:
        await record(request)
        response = web.StreamResponse()
        await response.prepare(request)
        chunk = b"x" * 65536
        try:
            for _ in range(200):
                await response.write(chunk)
        except (ConnectionError, RuntimeError):
            pass  # the client went away, as the test intends
        return response

    async def hang(request: web.Request) -> web.Response:
        await record(request)
        await asyncio.sleep(3600)
        return web.Response()

    async def cookie(request: web.Request) -> web.Response:
        await record(request)
        response = web.Response(text="set")
        response.set_cookie("session", "tenant-a-secret")
        response.set_cookie("other", "two")
        return response

    async def gz(request: web.Request) -> web.Response:
        await record(request)
        return web.Response(
            body=GZIP_BODY, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
        )

    app = web.Application()
    app.router.add_route("*", "/echo{tail:.*}", echo)
    app.router.add_get("/redirect", redirect)
    app.router.add_get("/stream", stream)
    app.router.add_get("/big", big)
    app.router.add_get("/hang", hang)
    app.router.add_get("/cookie", cookie)
    app.router.add_get("/gzip", gz)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    upstream.port = runner.addresses[0][1]
    return runner, upstream


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    runner, upstream = await _start_upstream()
    yield upstream
    await http_client.close_client()  # close pooled connections before the server goes
    await runner.cleanup()


@pytest.fixture(autouse=True)
async def _clean_network_state() -> AsyncIterator[None]:
    Runtime.reset_process_state()
    yield
    await http_client.close_client()
    if redis_clients._async_clients.get(asyncio.get_running_loop()) is not None:
        await redis_clients.close_async_client()
    Runtime.reset_process_state()


def echo_json(response) -> dict:
    return json.loads(response.content)


class Lifespan:
    """Runs an ASGI app's lifespan startup/shutdown, as a server would."""

    def __init__(self, app: PromptGateApplication) -> None:
        self.app = app
        self.inbox: asyncio.Queue[dict] = asyncio.Queue()
        self.outbox: asyncio.Queue[dict] = asyncio.Queue()

    async def __aenter__(self) -> PromptGateApplication:
        self.task = asyncio.create_task(self.app({"type": "lifespan"}, self.inbox.get, self.outbox.put))
        await self.inbox.put({"type": "lifespan.startup"})
        message = await asyncio.wait_for(self.outbox.get(), 10)
        assert message["type"] == "lifespan.startup.complete", message
        return self.app

    async def __aexit__(self, *exc: object) -> None:
        await self.inbox.put({"type": "lifespan.shutdown"})
        message = await asyncio.wait_for(self.outbox.get(), 15)
        assert message["type"] == "lifespan.shutdown.complete"
        await self.task


@pytest.fixture
async def gateway_app() -> AsyncIterator[PromptGateApplication]:
    app = PromptGateApplication()
    async with Lifespan(app):
        yield app


@pytest.fixture
async def gateway(gateway_app) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=gateway_app, client=("127.0.0.1", 5555))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def amake_token(make_token):
    """make_token for async tests (the ORM must run in a thread)."""
    from tests.helpers import orm

    return orm(make_token)


@pytest.fixture
def amake_project(make_project):
    from tests.helpers import orm

    return orm(make_project)
