"""Upstream health as this process sees it: warnings in the log, the last state on the McpServer row."""

from __future__ import annotations

import asyncio
import logging

from django.utils import timezone

from gateways.common import db, process_state
from gateways.mcp.models import McpServer
from gateways.mcp.upstream import ServerConfig
from webhooks.emit import upstream_changed

logger = logging.getLogger(__name__)

# server id → "up" | "down", as this process last recorded it
_last: dict[int, str] = process_state.keep("mcp.upstream_health", {})
_tasks: set[asyncio.Task[None]] = set()


def _store(server_id: int, status: str, error: str) -> None:
    # queryset.update: no signals, so neither an audit row nor a config-version bump.
    McpServer.objects.filter(pk=server_id).update(
        last_status=status, last_error=error[:200], last_checked_at=timezone.now()
    )


def record(server: ServerConfig, *, ok: bool, error: str = "") -> None:
    """Note a success or failure; only a change of state is written, in the background."""
    status = "up" if ok else "down"
    if not ok:
        logger.warning("MCP upstream %r (server %s) is down: %s", server.prefix, server.id, error)
    if _last.get(server.id) == status:
        return
    _last[server.id] = status
    upstream_changed("mcp_server", server.id, server.prefix, ok=ok, error=error)  # webhooks (batched)
    task = asyncio.get_running_loop().create_task(_write(server.id, status, error))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


async def _write(server_id: int, status: str, error: str) -> None:
    try:
        await db.run_sync(_store, server_id, status, error)
    except Exception:  # health is advisory: a failed write must never break traffic
        _last.pop(server_id, None)
        logger.warning("could not record MCP upstream health", exc_info=True)


def record_sync(server_id: int, *, ok: bool, error: str = "") -> None:
    """The same from sync code (the admin's and API's test-connection actions)."""
    _store(server_id, "up" if ok else "down", error)
