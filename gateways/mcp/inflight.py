"""Tool calls in flight, so a client's cancellation reaches the upstream working on it, from any process.

A session-based client cancels with `notifications/cancelled` naming its own request id; that POST may
land on another gateway process than the one running the call. Each call is registered here by
(project, token, session, client request id): in this process at once (its task is cancelled, which
closes the upstream request and tells a session-based upstream), and in Redis after a short grace, so
another process can send the upstream's cancellation itself. Calls that finish within the grace, nearly
all of them, never touch Redis. A 2026-07-28 client cancels by closing its request: the same task
cancellation, started by the disconnect.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any

import orjson

from gateways.common import redis_clients
from gateways.mcp import upstream
from gateways.mcp.upstream import Sent, ServerConfig

logger = logging.getLogger(__name__)

REDIS_GRACE_SECONDS = 0.5


class _Call:
    __slots__ = ("key", "redis_key", "sent", "server", "task", "timer")

    def __init__(self, key: str, server: ServerConfig, sent: Sent, task: asyncio.Task[Any] | None) -> None:
        self.key = key
        self.server = server
        self.sent = sent
        self.task = task
        self.timer: asyncio.TimerHandle | None = None
        self.redis_key: str | None = None


_calls: dict[str, _Call] = {}
_background: set[asyncio.Task[None]] = set()


def call_key(project_uuid: str, token_id: int, session_id: str | None, request_id: Any) -> str:
    raw = orjson.dumps([project_uuid, token_id, session_id or "", request_id])
    return hashlib.sha256(raw).hexdigest()


def _spawn(coro: Any) -> None:
    task = asyncio.get_running_loop().create_task(coro)
    _background.add(task)
    task.add_done_callback(_background.discard)


def start(key: str, server: ServerConfig, sent: Sent, *, ttl: float) -> _Call:
    """Register a call; `finish` it when it ends, however it ends."""
    call = _Call(key, server, sent, asyncio.current_task())
    _calls[key] = call
    if redis_clients.enabled():
        call.timer = asyncio.get_running_loop().call_later(
            REDIS_GRACE_SECONDS, lambda: _spawn(_publish(call, ttl))
        )
    return call


def finish(call: _Call) -> None:
    if _calls.get(call.key) is call:
        del _calls[call.key]
    if call.timer is not None:
        call.timer.cancel()
    if call.redis_key is not None:
        _spawn(_unpublish(call.redis_key))


async def _publish(call: _Call, ttl: float) -> None:
    if _calls.get(call.key) is not call or not call.sent.message_id:
        return
    redis_key = redis_clients.key("mcp", "inflight", call.key)
    value = orjson.dumps({"s": call.server.id, "m": call.sent.message_id, "h": call.sent.headers or {}})
    try:
        await redis_clients.lean_client().execute("SET", redis_key, value, "EX", max(1, int(ttl)))
        call.redis_key = redis_key
    except Exception:  # advisory: a cancellation from another process is then only missed
        logger.warning("could not register an MCP call for cancellation", exc_info=True)
        return
    if _calls.get(call.key) is not call:  # finished while we wrote
        await _unpublish(redis_key)


async def _unpublish(redis_key: str) -> None:
    try:
        await redis_clients.lean_client().execute("DEL", redis_key)
    except Exception:
        logger.warning("could not drop an MCP call's cancellation record", exc_info=True)


async def cancel(key: str, reason: str, servers: tuple[ServerConfig, ...]) -> bool:
    """Cancel the call registered under `key`, here or on another process; False when none is known."""
    call = _calls.get(key)
    if call is not None:
        if call.task is not None and not call.task.done():
            call.task.cancel(reason)
        return True
    if not redis_clients.enabled():
        return False
    try:
        raw = await redis_clients.lean_client().execute("GETDEL", redis_clients.key("mcp", "inflight", key))
    except Exception:
        logger.warning("could not look up an MCP call to cancel", exc_info=True)
        return False
    if not raw:
        return False
    record = orjson.loads(raw)
    server = next((s for s in servers if s.id == record.get("s")), None)
    if server is None:
        return False
    await upstream.cancel(server, Sent(str(record.get("m") or ""), record.get("h") or {}), reason)
    return True


def cancel_upstream_later(server: ServerConfig, sent: Sent, reason: str) -> None:
    """After a local cancellation: a session-based upstream needs to be told (closing is not enough)."""
    if sent.message_id and "mcp-method" not in (sent.headers or {}):
        _spawn(upstream.cancel(server, sent, reason))
