"""Redis connections, when REDIS_URL is set: one sync client per process, one async client per loop."""

from __future__ import annotations

import asyncio
import weakref
from functools import lru_cache

import redis
import redis.asyncio as aioredis
from django.conf import settings

_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis] = (
    weakref.WeakKeyDictionary()
)


def enabled() -> bool:
    return bool(settings.REDIS_URL)


def key(*parts: object) -> str:
    """Namespaced key: every PromptGate key starts with PROMPTGATE_REDIS_PREFIX."""
    return ":".join([settings.PROMPTGATE_REDIS_PREFIX, *map(str, parts)])


@lru_cache(maxsize=1)
def sync_client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)


def async_client() -> aioredis.Redis:
    """The async client of the running event loop (a client cannot be shared across loops)."""
    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        client = aioredis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
        _async_clients[loop] = client
    return client


async def close_async_client() -> None:
    client = _async_clients.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.aclose()
