"""Fixtures for the data plane: the real ASGI application, its lifespan run around each test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from promptgate.asgi import PromptGateApplication


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
