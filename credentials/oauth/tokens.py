"""Data plane: a connection's access token for the proxy, cached in process, refreshed on demand.

Warm path: the token snapshot sits in the runtime's config cache (dropped by the version bump every
save causes), so a request costs no query. Within REFRESH_MARGIN_SECONDS of expiry one task per
process refreshes (concurrent requests await it) and refresh.py serialises processes.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

from credentials.models import OAuthConnection
from credentials.oauth import refresh as refresher
from credentials.oauth.client import RawResponse, send_async
from credentials.oauth.protocol import HttpCall
from gateways.common import db, process_state
from promptgate.errors import ErrorCode, PromptGateError

if TYPE_CHECKING:
    from gateways.common.router import GatewayRequest
    from gateways.common.runtime import Runtime

# Refreshes in flight, per event loop: concurrent callers of one connection share one refresh.
_tasks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, asyncio.Task[refresher.Outcome]]] = (
    process_state.keep("oauth.refreshes", weakref.WeakKeyDictionary())
)


@dataclass(frozen=True, slots=True)
class ConnectionToken:
    """An OAuth connection's access token as the data plane caches it (an ApiToken's snapshot is TokenInfo)."""

    id: int
    project_id: int
    status: str
    access_token: str  # decrypted, in memory only
    expires_at: float | None


def load_connection_token(connection_id: int) -> ConnectionToken | None:
    row = OAuthConnection.objects.filter(pk=connection_id).first()
    if row is None:
        return None
    return ConnectionToken(
        id=row.id,
        project_id=row.project_id,
        status=row.status,
        access_token=row.access_token,
        expires_at=row.expires_at.timestamp() if row.expires_at else None,
    )


def _error(outcome: refresher.Outcome) -> PromptGateError:
    return PromptGateError(outcome.message or "OAuth connection unavailable", code=outcome.error, status=502)


async def access_token(runtime: Runtime, connection_id: int, project_id: int) -> str:
    """The bearer token to inject upstream, or a 502 PromptGateError naming why there is none."""
    info = await runtime.config.get(
        ("oauth-token", connection_id), lambda: load_connection_token(connection_id)
    )
    if info is None or info.project_id != project_id:
        # A connection of another project is never lent out, whatever the endpoint row says.
        raise PromptGateError(
            "The endpoint's OAuth connection is unavailable", code=ErrorCode.OAUTH_NOT_CONNECTED, status=502
        )
    if info.status == "needs_reauth":
        raise PromptGateError(
            "The OAuth connection needs re-authorization", code=ErrorCode.OAUTH_REAUTH_REQUIRED, status=502
        )
    if info.status != "connected" or not info.access_token:
        raise PromptGateError(
            "The OAuth connection is not connected", code=ErrorCode.OAUTH_NOT_CONNECTED, status=502
        )
    if info.expires_at is None or info.expires_at - time.time() > refresher.REFRESH_MARGIN_SECONDS:
        return info.access_token
    outcome = await _refresh_once(connection_id)
    if outcome.error:
        raise _error(outcome)
    return outcome.access_token


async def _refresh_once(connection_id: int) -> refresher.Outcome:
    loop = asyncio.get_running_loop()
    tasks = _tasks.setdefault(loop, {})
    task = tasks.get(connection_id)
    if task is None or task.done():
        task = loop.create_task(_refresh(connection_id, loop))
        tasks[connection_id] = task
        task.add_done_callback(
            lambda t: tasks.pop(connection_id, None) if tasks.get(connection_id) is t else None
        )
    return await asyncio.shield(task)


async def _refresh(connection_id: int, loop: asyncio.AbstractEventLoop) -> refresher.Outcome:
    def send(call: HttpCall) -> RawResponse:
        # Runs in the worker thread (which may hold the row lock): the HTTP call itself goes through
        # the loop's shared, SSRF-pinned client.
        return asyncio.run_coroutine_threadsafe(send_async(call), loop).result(timeout=30)

    return await db.run_sync(refresher.refresh, connection_id, send)


async def upstream_headers(greq: GatewayRequest, connection_id: int | None) -> list[tuple[str, str]]:
    """The proxy's hook: `Authorization: Bearer …` for an endpoint linked to a connection, else nothing."""
    if connection_id is None:
        return []
    token = await access_token(greq.runtime, connection_id, greq.project.id)
    return [("authorization", f"Bearer {token}")]
