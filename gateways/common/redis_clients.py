"""Redis connections, when REDIS_URL is set: one sync client per process, two async clients per loop.

redis-py's async client serves MULTI pipelines and the control plane's few calls; the hot path's
scripts and reads go through `lean_client()` (gateways/common/transport/resp.py), several times cheaper per call.
"""

from __future__ import annotations

import asyncio
import weakref
from functools import lru_cache

import redis
import redis.asyncio as aioredis
from django.conf import settings

from gateways.common.transport.resp import PipelinedRedis

_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis] = (
    weakref.WeakKeyDictionary()
)
_lean_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, PipelinedRedis] = (
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


def lean_client() -> PipelinedRedis:
    """The running loop's pipelined client for hot-path commands (scripts, GET); see resp.py."""
    loop = asyncio.get_running_loop()
    client = _lean_clients.get(loop)
    if client is None or client.url != settings.REDIS_URL:
        client = PipelinedRedis(settings.REDIS_URL, timeout=2, connect_timeout=2)
        _lean_clients[loop] = client
    return client


async def close_async_client() -> None:
    """Close the running loop's clients (both kinds)."""
    loop = asyncio.get_running_loop()
    client = _async_clients.pop(loop, None)
    if client is not None:
        await client.aclose()
    lean = _lean_clients.pop(loop, None)
    if lean is not None:
        await lean.close()
