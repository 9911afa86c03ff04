"""The MCP gateway's ToolSource: every enabled upstream of the project behind one namespaced catalogue.

Names are `<prefix>__<name>`, resource URIs `mcpgw://<prefix>/<upstream uri>`. Calls are routed through
per-server tables of what each upstream listed (never by splitting a name). A list fans out to every
upstream at once (bounded, each with its own timeout), walks each upstream's own pages, and answers
everything in one response; only past `PROMPTGATE_MCP_LIST_MAX_ITEMS` does it page, under the gateway's
signed cursor, which records where each upstream stopped. A down or refused upstream drops out of the
list (its health says why) while the others answer.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import time
from typing import Any

from django.conf import settings
from django.core import signing

from gateways.common import db, process_state, ratelimit, versioning
from gateways.guardrails import service as guardrails
from gateways.guardrails import verdicts
from gateways.mcp import health, inflight, protocol, upstream
from gateways.mcp.models import SEPARATOR
from gateways.mcp.protocol import McpError
from gateways.mcp.source import CallContext, Page
from gateways.mcp.upstream import McpUpstreamError, ServerConfig, UpstreamRpcError
from promptgate.errors import PromptGateError

logger = logging.getLogger(__name__)

RESOURCE_SCHEME = "mcpgw://"
KIND_METHODS = {
    "tools": "tools/list",
    "resources": "resources/list",
    "resourceTemplates": "resources/templates/list",
    "prompts": "prompts/list",
}
_CURSOR_SALT = "promptgate.mcp.cursor"
_MAX_PAGES_PER_TABLE = 100  # upstream pages one server's walk may read
_FAN_OUT = 16  # upstreams listed at once per request
_CACHE_MAX = 5000
_REFRESH_EVERY = 1.0  # an unknown name re-reads its server's catalogue at most this often

# (server id, url, kind, upstream cursor) → (config version, expires at, items, next cursor)
_pages: dict[tuple[int, str, str, str | None], tuple[int, float, list[dict[str, Any]], str | None]] = (
    process_state.keep("mcp.list_pages", {})
)
# (server id, kind) → when its table was last re-read
_refreshed: dict[tuple[int, str], float] = process_state.keep("mcp.list_refreshed", {})
_background: set[asyncio.Task[None]] = set()
# An entry of a list walk: (the item as clients see it, the upstream page's cursor, index in that page).
_Entry = tuple[dict[str, Any], str | None, int]


def catalogue_changed(server: ServerConfig, kind: str) -> None:
    """An upstream announced a new catalogue: drop it here now, and on every process within a poll."""
    for key in [key for key in _pages if key[0] == server.id]:
        _pages.pop(key, None)
    task = asyncio.get_running_loop().create_task(_bump_everywhere())
    _background.add(task)
    task.add_done_callback(_background.discard)


async def _bump_everywhere() -> None:
    try:
        await db.run_sync(versioning.bump)
    except Exception:  # the local drop above already happened; other processes catch up at the TTL
        logger.warning("could not announce an MCP catalogue change", exc_info=True)


upstream.list_changed_hook = catalogue_changed


class _Slot:
    """Upstream session ids of the caller: its gateway session's, or the process's for stateless calls."""

    def __init__(self, ctx: CallContext) -> None:
        self.ctx = ctx

    def get(self, server_id: int) -> str | None:
        if self.ctx.session_id is None:
            return upstream.shared_sessions.get(server_id)
        return self.ctx.upstream_sessions.get(str(server_id))

    def set(self, server_id: int, session_id: str | None) -> None:
        if self.ctx.session_id is None:
            upstream.shared_sessions.set(server_id, session_id)
        else:
            self.ctx.set_upstream_session(str(server_id), session_id)


def exposed_name(server: ServerConfig, name: str) -> str:
    return f"{server.prefix}{SEPARATOR}{name}"


def exposed_uri(server: ServerConfig, uri: str) -> str:
    return f"{RESOURCE_SCHEME}{server.prefix}/{uri}"


def tool_allowed(server: ServerConfig, name: str) -> bool:
    names = {name, exposed_name(server, name)}
    if server.tool_allow and not (names & server.tool_allow):
        return False
    return not (names & server.tool_deny)


def _namespace(server: ServerConfig, kind: str, item: dict[str, Any]) -> dict[str, Any] | None:
    name = item.get("name")
    if not isinstance(name, str) or not name:
        return None
    if kind == "tools" and not tool_allowed(server, name):
        return None
    shaped = {**item, "name": exposed_name(server, name)}
    if kind == "resources":
        if not isinstance(item.get("uri"), str):
            return None
        shaped["uri"] = exposed_uri(server, item["uri"])
    elif kind == "resourceTemplates":
        if not isinstance(item.get("uriTemplate"), str):
            return None
        shaped["uriTemplate"] = exposed_uri(server, item["uriTemplate"])
    return shaped


class Aggregator:
    """ToolSource over a project's upstream MCP servers (a fresh, cheap instance per request)."""

    def __init__(self, project_uuid: str, project_name: str, servers: tuple[ServerConfig, ...]) -> None:
        self.project_uuid = project_uuid
        self.project_name = project_name
        self.servers = servers
        self.by_prefix = {server.prefix: server for server in servers}

    # --- identity ------------------------------------------------------------------------------------
    def server_info(self) -> dict[str, Any]:
        return {"name": f"PromptGate MCP gateway: {self.project_name}", "version": "1"}

    def capabilities(self) -> dict[str, Any]:
        # listChanged: session clients hear notifications/*/list_changed on their GET stream (listen.py).
        return {
            "tools": {"listChanged": True},
            "resources": {"listChanged": True},
            "prompts": {"listChanged": True},
        }

    def instructions(self) -> str | None:
        return "Tools, resources and prompts of several MCP servers, named <server>__<name>."

    # --- upstream access -----------------------------------------------------------------------------
    async def _request(
        self,
        ctx: CallContext,
        server: ServerConfig,
        method: str,
        params: dict[str, Any],
        **options: Any,
    ) -> dict[str, Any]:
        try:
            result = await upstream.request(server, method, params, _Slot(ctx), **options)
        except McpUpstreamError as exc:
            health.record(server, ok=False, error=exc.message)
            upstream.forget(server)
            raise
        health.record(server, ok=True)
        return result

    async def _page(
        self, ctx: CallContext, server: ServerConfig, kind: str, cursor: str | None, *, fresh: bool = False
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One upstream page, from the short-lived cache when fresh (versioned: config changes drop it)."""
        key = (server.id, server.upstream_url, kind, cursor)
        version = versioning.local_version.value
        cached = _pages.get(key)
        if not fresh and cached is not None and cached[0] == version and cached[1] > time.monotonic():
            return cached[2], cached[3]
        result = await self._request(ctx, server, KIND_METHODS[kind], {"cursor": cursor} if cursor else {})
        raw_items = result.get(kind)
        items = [item for item in raw_items if isinstance(item, dict)] if isinstance(raw_items, list) else []
        next_cursor = result.get("nextCursor") if isinstance(result.get("nextCursor"), str) else None
        if len(_pages) >= _CACHE_MAX:
            _pages.clear()
        _pages[key] = (
            version,
            time.monotonic() + settings.PROMPTGATE_MCP_LIST_CACHE_SECONDS,
            items,
            next_cursor or None,
        )
        return items, next_cursor or None

    # --- lists ---------------------------------------------------------------------------------------
    def _encode_cursor(self, kind: str, pending: list[list[Any]]) -> str:
        return signing.dumps(
            {"p": self.project_uuid, "k": kind, "s": pending}, salt=_CURSOR_SALT, compress=True
        )

    def _decode_cursor(self, kind: str, cursor: str) -> dict[str, tuple[str | None, int]]:
        """prefix → (upstream cursor of the page to resume in, items of that page already answered)."""
        try:
            data = signing.loads(cursor, salt=_CURSOR_SALT)
        except signing.BadSignature:
            raise protocol.invalid_params("Invalid cursor") from None
        if not isinstance(data, dict) or data.get("p") != self.project_uuid or data.get("k") != kind:
            raise protocol.invalid_params("Invalid cursor")
        try:
            return {str(prefix): (page, int(skip)) for prefix, page, skip in data.get("s") or ()}
        except (TypeError, ValueError):
            raise protocol.invalid_params("Invalid cursor") from None

    async def list(self, ctx: CallContext, kind: str, cursor: str | None) -> Page:
        if cursor is None:
            positions: dict[str, tuple[str | None, int]] = {s.prefix: (None, 0) for s in self.servers}
        else:
            positions = self._decode_cursor(kind, cursor)
        active = [server for server in self.servers if server.prefix in positions]
        cap = settings.PROMPTGATE_MCP_LIST_MAX_ITEMS
        limit = asyncio.Semaphore(_FAN_OUT)

        async def walk(server: ServerConfig) -> tuple[list[_Entry], str | None]:
            async with limit:
                return await self._walk(ctx, server, kind, *positions[server.prefix], cap)

        walks = await asyncio.gather(*(walk(server) for server in active))
        items: list[dict[str, Any]] = []
        pending: list[list[Any]] = []  # [prefix, upstream page cursor, skip] of what is left
        for server, (entries, resume) in zip(active, walks, strict=True):
            room = cap - len(items)
            items.extend(entry[0] for entry in entries[:room])
            if len(entries) > room:
                _, page, index = entries[room]
                pending.append([server.prefix, page, index])
            elif resume is not None:
                pending.append([server.prefix, resume, 0])
        return Page(items, self._encode_cursor(kind, pending) if pending else None)

    async def _walk(
        self, ctx: CallContext, server: ServerConfig, kind: str, cursor: str | None, skip: int, cap: int
    ) -> tuple[builtins.list[_Entry], str | None]:  # `list` here is Aggregator.list
        """One server's items from a position on, over its pages, until `cap` items or its end.

        Returns the entries and the upstream cursor to continue at (None: this server is done). A
        failing upstream ends its walk with what it gave so far; the others are not held up.
        """
        entries: list[_Entry] = []
        seen: set[str] = set()
        try:
            for _ in range(_MAX_PAGES_PER_TABLE):
                raw, next_cursor = await self._page(ctx, server, kind, cursor)
                for index, item in enumerate(raw):
                    if index < skip:
                        continue
                    shaped = _namespace(server, kind, item)
                    if shaped is not None and shaped["name"] not in seen:
                        seen.add(shaped["name"])
                        entries.append((shaped, cursor, index))
                skip = 0
                if next_cursor is None:
                    return entries, None
                cursor = next_cursor
                if len(entries) >= cap:
                    return entries, cursor
        except (McpUpstreamError, UpstreamRpcError) as exc:
            # A down or refused upstream drops out of the list; the others still answer.
            logger.warning("MCP upstream %r left out of %s: %s", server.prefix, kind, exc)
        return entries, None

    async def _table(
        self, ctx: CallContext, server: ServerConfig, kind: str, *, fresh: bool = False
    ) -> dict[str, dict[str, Any]]:
        """Exposed name → the upstream's item, over every page of one server (pages cached)."""
        table: dict[str, dict[str, Any]] = {}
        cursor: str | None = None
        for _ in range(_MAX_PAGES_PER_TABLE):
            items, cursor = await self._page(ctx, server, kind, cursor, fresh=fresh)
            for item in items:
                name = item.get("name")
                if isinstance(name, str) and _namespace(server, kind, item) is not None:
                    table.setdefault(exposed_name(server, name), item)
            if cursor is None:
                break
        return table

    async def _route(self, ctx: CallContext, kind: str, name: str) -> tuple[ServerConfig, dict[str, Any]]:
        """The server and upstream item behind an exposed name, by table lookup.

        A name missing from a cached table re-reads that server's catalogue once (at most every
        second), so a tool just added upstream is callable at once, not after the cache expires.
        """
        candidates = [s for s in self.servers if name.startswith(s.prefix + SEPARATOR)]
        label = "tool" if kind == "tools" else "prompt"
        for server in candidates:
            try:
                item = (await self._table(ctx, server, kind)).get(name)
                refreshed = _refreshed.get((server.id, kind), 0.0)
                if item is None and time.monotonic() - refreshed > _REFRESH_EVERY:
                    _refreshed[(server.id, kind)] = time.monotonic()
                    item = (await self._table(ctx, server, kind, fresh=True)).get(name)
            except McpUpstreamError as exc:
                raise _unavailable(server, exc) from None
            except UpstreamRpcError as exc:
                raise McpError(exc.code, exc.message, exc.data) from None
            if item is not None:
                return server, item
        raise protocol.invalid_params(f"Unknown {label}: {name}")

    # --- calls ---------------------------------------------------------------------------------------
    async def call_tool(self, ctx: CallContext, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        log = ctx.greq.log
        log["endpoint"] = name[:200]
        server, item = await self._route(ctx, "tools", name)
        log["provider"] = server.prefix[:40]
        if server.rate_limit_per_minute:
            limit = ratelimit.Limit(f"mcp:{server.id}:m", server.rate_limit_per_minute, 60, "minute")
            try:
                await ratelimit.enforce([limit])
            except PromptGateError as exc:  # 429 or limiter down: JSON-RPC needs its own shape
                _outcome(ctx, server, "refused", 0.0, exc.code)
                raise McpError(protocol.UPSTREAM_ERROR, f"Rate limit of {server.prefix!r} exceeded") from None
        try:
            await _guard(ctx, server, "input", arguments)
        except McpError:
            _outcome(ctx, server, "refused", 0.0, ctx.greq.log.get("error_code", ""))
            raise
        params: dict[str, Any] = {"name": item["name"], "arguments": arguments}
        if ctx.meta:
            params["_meta"] = ctx.meta
        sent = upstream.Sent()
        call = None
        if ctx.session_id is not None:  # only the session era cancels by a later message (2026: by closing)
            key = inflight.call_key(self.project_uuid, ctx.greq.token.id, ctx.session_id, ctx.request_id)
            call = inflight.start(key, server, sent, ttl=server.tool_timeout_seconds + 5)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(server.tool_timeout_seconds):
                result = await self._upstream_call(
                    ctx,
                    server,
                    "tools/call",
                    params,
                    timeout=upstream.tool_timeout(server),
                    on_event=ctx.notify,
                    sent=sent,
                )
        except TimeoutError:
            inflight.cancel_upstream_later(server, sent, "timed out at the gateway")
            _outcome(ctx, server, "tool_error", started, "tool_timeout")
            text = f"Tool {name} did not finish within {server.tool_timeout_seconds:g} s"
            return {"content": [{"type": "text", "text": text}], "isError": True}
        except asyncio.CancelledError:
            inflight.cancel_upstream_later(server, sent, "cancelled by the client")
            _outcome(ctx, server, "cancelled", started, "cancelled")
            raise
        except McpError as error:
            _outcome(
                ctx, server, "upstream_error", started, ctx.greq.log.get("error_code") or f"rpc_{error.code}"
            )
            raise
        finally:
            if call is not None:
                inflight.finish(call)
        if result.get("isError") is True:
            _outcome(ctx, server, "tool_error", started, "tool_error")
        else:
            _outcome(ctx, server, "ok", started, "")
        try:
            await _guard(ctx, server, "output", result)
        except McpError:
            _outcome(ctx, server, "refused", started, ctx.greq.log.get("error_code", ""))
            raise
        return result

    async def _upstream_call(
        self, ctx: CallContext, server: ServerConfig, method: str, params: dict[str, Any], **options: Any
    ) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            return await self._request(ctx, server, method, params, **options)
        except McpUpstreamError as exc:
            ctx.greq.log["error_code"] = exc.code
            raise _unavailable(server, exc) from None
        except UpstreamRpcError as exc:
            ctx.greq.log["error_code"] = f"rpc_{exc.code}"[:60]
            raise McpError(exc.code, exc.message, exc.data) from None
        finally:
            ctx.greq.upstream_ms = (ctx.greq.upstream_ms or 0.0) + (time.perf_counter() - started) * 1000

    async def read_resource(self, ctx: CallContext, uri: str) -> dict[str, Any]:
        server, original = self._resource_server(uri)
        ctx.greq.log["endpoint"] = f"{server.prefix}{SEPARATOR}resource"
        ctx.greq.log["provider"] = server.prefix[:40]
        result = await self._upstream_call(ctx, server, "resources/read", {"uri": original})
        contents = result.get("contents")
        if isinstance(contents, list):
            result = {
                **result,
                "contents": [
                    {**c, "uri": exposed_uri(server, c["uri"])}
                    if isinstance(c, dict) and isinstance(c.get("uri"), str)
                    else c
                    for c in contents
                ],
            }
        return result

    def _resource_server(self, uri: str) -> tuple[ServerConfig, str]:
        if uri.startswith(RESOURCE_SCHEME):
            prefix, _, original = uri[len(RESOURCE_SCHEME) :].partition("/")
            server = self.by_prefix.get(prefix)
            if server is not None and original:
                return server, original
        raise McpError(protocol.INVALID_PARAMS, f"Unknown resource: {uri[:300]}")

    async def get_prompt(self, ctx: CallContext, name: str, arguments: dict[str, str]) -> dict[str, Any]:
        ctx.greq.log["endpoint"] = name[:200]
        server, item = await self._route(ctx, "prompts", name)
        ctx.greq.log["provider"] = server.prefix[:40]
        params: dict[str, Any] = {"name": item["name"]}
        if arguments:
            params["arguments"] = arguments
        if ctx.meta:
            params["_meta"] = ctx.meta
        result = await self._upstream_call(ctx, server, "prompts/get", params, on_event=ctx.notify)
        await _guard(ctx, server, "output", result)
        return result

    async def end_session(self, upstream_sessions: dict[str, str]) -> None:
        by_id = {str(server.id): server for server in self.servers}
        for server_id, packed in upstream_sessions.items():
            server = by_id.get(server_id)
            if server is not None:
                await upstream.end_session(server, packed)

    async def cancel(self, ctx: CallContext, request_id: Any, reason: str) -> None:
        key = inflight.call_key(self.project_uuid, ctx.greq.token.id, ctx.session_id, request_id)
        await inflight.cancel(key, reason, self.servers)


async def _guard(ctx: CallContext, server: ServerConfig, stage: str, value: dict[str, Any]) -> None:
    """Guardrails of the project and of this server (its prefix is the endpoint key), in place."""
    greq = ctx.greq
    try:
        verdict = await guardrails.check_payload(
            greq.runtime.config, greq.project.id, server.prefix, stage, value
        )
    except guardrails.GuardrailBlocked as exc:
        verdicts.record(greq.log, exc.verdict)
        greq.log["error_code"] = exc.code
        error = exc.jsonrpc_error()
        raise McpError(error["code"], error["message"], error["data"]) from None
    verdicts.record(greq.log, verdict)


def _outcome(ctx: CallContext, server: ServerConfig, outcome: str, started: float, error_code: str) -> None:
    """The tool-call record in the request log: upstream, outcome and latency; never the arguments."""
    elapsed = (time.perf_counter() - started) * 1000 if started else 0.0
    ctx.greq.log["attempts"] = [
        {"upstream": server.prefix, "outcome": outcome, "latency_ms": round(elapsed, 3)}
    ]
    if error_code:
        ctx.greq.log["error_code"] = error_code[:60]


def _unavailable(server: ServerConfig, exc: McpUpstreamError) -> McpError:
    return McpError(
        protocol.UPSTREAM_ERROR,
        f"MCP server {server.prefix!r} is unavailable: {exc.message}",
        {"server": server.prefix, "reason": exc.code},
    )
