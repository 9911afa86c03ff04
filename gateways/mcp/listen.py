"""Session clients' listening streams (GET /mcp) and the catalogue watch that feeds them.

A session-based client opens `GET /api/{uuid}/mcp` with its `Mcp-Session-Id` and keeps it open; any
process serves it, since the session is shared. The catalogue changes when a server is added, edited
or disabled (a config change, adopted by every process within a poll) or when an upstream announces
`notifications/*/list_changed` (which bumps the shared config version, aggregate.catalogue_changed).
Each process re-lists the catalogue of the projects its listeners watch when the version moves, and
sends `notifications/<kind>/list_changed` to the listeners whose view (their token's policy included)
really changed. While a project has listeners here, this process also listens to its session-era
upstreams' own GET streams, where they announce changes outside any request.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson

from gateways.common import versioning
from gateways.common.http import StreamingResponse
from gateways.common.router import GatewayRequest
from gateways.mcp import policy, protocol, upstream
from gateways.mcp.config import cached_servers
from gateways.mcp.source import LIST_METHODS, CallContext, ToolSource
from gateways.mcp.upstream import McpUpstreamError, ServerConfig

logger = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 15.0
WATCH_INTERVAL = 0.2
UPSTREAM_RETRY_SECONDS = 5.0
KINDS = {key: method for method, key in LIST_METHODS.items() if key != "resourceTemplates"}
CHANGED = {
    "tools": "notifications/tools/list_changed",
    "resources": "notifications/resources/list_changed",
    "prompts": "notifications/prompts/list_changed",
}
SourceFactory = Callable[[GatewayRequest], Awaitable[ToolSource]]


class Listener:
    """One open GET stream: who listens, and the catalogue it last saw (a digest per kind)."""

    def __init__(self, greq: GatewayRequest, make_source: SourceFactory, session_id: str) -> None:
        self.greq = greq
        self.make_source = make_source
        self.session_id = session_id
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=100)
        self.seen: dict[str, str] = {}

    @property
    def project_uuid(self) -> str:
        return self.greq.project.uuid


_listeners: set[Listener] = set()
_watcher: asyncio.Task[None] | None = None
_upstream_watches: dict[int, asyncio.Task[None]] = {}  # server id → its upstream GET stream reader


async def stream(greq: GatewayRequest, make_source: SourceFactory, session_id: str) -> StreamingResponse:
    """Open a listening stream; its first byte goes out once the catalogue it starts from is known."""
    listener = Listener(greq, make_source, session_id)
    await _remember(listener)
    _listeners.add(listener)
    _ensure_watcher()

    async def close() -> None:
        _listeners.discard(listener)

    return StreamingResponse(
        _frames(listener),
        headers={"cache-control": "no-cache, no-transform", "content-type": "text/event-stream"},
        on_close=close,
    )


async def _frames(listener: Listener) -> AsyncIterator[bytes]:
    yield b": listening\r\n\r\n"  # the headers and a first byte now, so clients know the stream is open
    while True:
        try:
            message = await asyncio.wait_for(listener.queue.get(), KEEPALIVE_SECONDS)
        except TimeoutError:
            yield b": keepalive\r\n\r\n"
            continue
        yield protocol.sse_frame(message)


async def _remember(listener: Listener) -> None:
    """The catalogue as the listener first sees it, so later changes can be told apart."""
    try:
        listener.seen = await _digests(listener)
    except Exception:  # advisory: the first change then notifies (clients just re-list)
        logger.warning("could not read the MCP catalogue of a listener", exc_info=True)


async def _digests(listener: Listener) -> dict[str, str]:
    source = await listener.make_source(listener.greq)
    ctx = CallContext(listener.greq, "listen")  # stateless upstream use: the process's sessions
    capabilities = source.capabilities()
    digests: dict[str, str] = {}
    for kind in KINDS:
        if kind not in capabilities:
            continue
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(20):
            page = await source.list(ctx, kind, cursor)
            items.extend(page.items)
            cursor = page.next_cursor
            if not cursor:
                break
        if kind == "tools":
            items = policy.filter_tools(listener.greq.token, items)
        digests[kind] = hashlib.sha256(orjson.dumps(items, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return digests


def _ensure_watcher() -> None:
    global _watcher
    if _watcher is None or _watcher.done():
        _watcher = asyncio.get_running_loop().create_task(_watch(), name="mcp-catalogue-watch")


async def _watch() -> None:
    """While anyone listens here: on every config version move, re-list and tell who saw a change."""
    version = versioning.local_version.value
    while _listeners:
        _sync_upstream_watches()
        await asyncio.sleep(WATCH_INTERVAL)
        if versioning.local_version.value == version:
            continue
        version = versioning.local_version.value
        await asyncio.gather(*(_check(listener) for listener in list(_listeners)), return_exceptions=True)
    _sync_upstream_watches()


async def _check(listener: Listener) -> None:
    try:
        digests = await _digests(listener)
    except Exception:
        logger.warning("could not re-read the MCP catalogue of a listener", exc_info=True)
        return
    for kind, digest in digests.items():
        if listener.seen and listener.seen.get(kind) != digest:
            with contextlib.suppress(asyncio.QueueFull):  # a client that never reads loses notices
                listener.queue.put_nowait({"jsonrpc": "2.0", "method": CHANGED[kind]})
    listener.seen = digests


# --- upstream GET streams ---------------------------------------------------------------------------
def _sync_upstream_watches() -> None:
    """Listen to the session-era upstreams of the projects someone listens to here; stop the rest."""
    wanted: dict[int, ServerConfig] = {}
    for listener in _listeners:
        for server in _servers_cached(listener):
            wanted[server.id] = server
    for server_id in list(_upstream_watches):
        if server_id not in wanted:
            _upstream_watches.pop(server_id).cancel()
    for server_id, server in wanted.items():
        task = _upstream_watches.get(server_id)
        if task is None or task.done():
            _upstream_watches[server_id] = asyncio.get_running_loop().create_task(_watch_upstream(server))


def _servers_cached(listener: Listener) -> tuple[ServerConfig, ...]:
    return cached_servers(listener.greq)


async def _watch_upstream(server: ServerConfig) -> None:
    while True:
        try:
            await upstream.listen(server)
        except asyncio.CancelledError:
            raise
        except McpUpstreamError as exc:
            logger.info("MCP upstream %r listening stream ended: %s", server.prefix, exc.message)
        except Exception:
            logger.warning("MCP upstream %r listening stream failed", server.prefix, exc_info=True)
        await asyncio.sleep(UPSTREAM_RETRY_SECONDS)
