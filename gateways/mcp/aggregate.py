"""The MCP gateway's ToolSource: every enabled upstream of the project behind one namespaced catalogue.

Names are `<prefix>__<name>`, resource URIs `mcpgw://<prefix>/<upstream uri>`. Calls are routed through
per-server tables of what each upstream listed (never by splitting a name). Lists walk upstreams in
prefix order, one upstream page per gateway page, under the gateway's own signed cursors.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.core import signing

from gateways.common import ratelimit, versioning
from gateways.mcp import conf, health, protocol, upstream
from gateways.mcp.models import SEPARATOR
from gateways.mcp.protocol import McpError
from gateways.mcp.source import CallContext, Page
from gateways.mcp.upstream import ServerConfig, UpstreamError, UpstreamRpcError
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
_MAX_PAGES_PER_LIST = 50  # upstream pages one gateway page may walk past (empty or down upstreams)
_MAX_PAGES_PER_TABLE = 100
_CACHE_MAX = 5000

# (server id, url, kind, upstream cursor) → (config version, expires at, items, next cursor)
_pages: dict[tuple[int, str, str, str | None], tuple[int, float, list[dict[str, Any]], str | None]] = {}


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
        return {
            "tools": {"listChanged": False},
            "resources": {"listChanged": False},
            "prompts": {"listChanged": False},
        }

    def instructions(self) -> str | None:
        return "Tools, resources and prompts of several MCP servers, named <server>__<name>."

    # --- upstream access -----------------------------------------------------------------------------
    async def _request(
        self, ctx: CallContext, server: ServerConfig, method: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        try:
            result = await upstream.request(server, method, params, _Slot(ctx))
        except UpstreamError as exc:
            health.record(server, ok=False, error=exc.message)
            upstream.forget(server)
            raise
        health.record(server, ok=True)
        return result

    async def _page(
        self, ctx: CallContext, server: ServerConfig, kind: str, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One upstream page, from the short-lived cache when fresh (versioned: config changes drop it)."""
        key = (server.id, server.upstream_url, kind, cursor)
        version = versioning.local_version.value
        cached = _pages.get(key)
        if cached is not None and cached[0] == version and cached[1] > time.monotonic():
            return cached[2], cached[3]
        result = await self._request(ctx, server, KIND_METHODS[kind], {"cursor": cursor} if cursor else {})
        raw_items = result.get(kind)
        items = [item for item in raw_items if isinstance(item, dict)] if isinstance(raw_items, list) else []
        next_cursor = result.get("nextCursor") if isinstance(result.get("nextCursor"), str) else None
        if len(_pages) >= _CACHE_MAX:
            _pages.clear()
        _pages[key] = (version, time.monotonic() + conf.list_cache_seconds(), items, next_cursor or None)
        return items, next_cursor or None

    # --- lists ---------------------------------------------------------------------------------------
    def _encode_cursor(self, kind: str, prefix: str, cursor: str | None) -> str:
        return signing.dumps(
            {"p": self.project_uuid, "k": kind, "s": prefix, "c": cursor}, salt=_CURSOR_SALT, compress=True
        )

    def _decode_cursor(self, kind: str, cursor: str) -> tuple[str, str | None]:
        try:
            data = signing.loads(cursor, salt=_CURSOR_SALT)
        except signing.BadSignature:
            raise protocol.invalid_params("Invalid cursor") from None
        if not isinstance(data, dict) or data.get("p") != self.project_uuid or data.get("k") != kind:
            raise protocol.invalid_params("Invalid cursor")
        return str(data.get("s")), data.get("c")

    async def list(self, ctx: CallContext, kind: str, cursor: str | None) -> Page:
        order = list(self.servers)
        index, upstream_cursor = 0, None
        if cursor is not None:
            prefix, upstream_cursor = self._decode_cursor(kind, cursor)
            # Resume at that server; if it is gone, at the next one in prefix order.
            index = next((i for i, s in enumerate(order) if s.prefix >= prefix), len(order))
            if index < len(order) and order[index].prefix != prefix:
                upstream_cursor = None
        items: list[dict[str, Any]] = []
        for _ in range(_MAX_PAGES_PER_LIST):
            if index >= len(order):
                return Page(items)
            server = order[index]
            try:
                raw, next_cursor = await self._page(ctx, server, kind, upstream_cursor)
            except (UpstreamError, UpstreamRpcError) as exc:
                # A down upstream drops out of the list; the others still answer.
                logger.warning("MCP upstream %r left out of %s: %s", server.prefix, kind, exc)
                raw, next_cursor = [], None
            seen: set[str] = set()
            for item in raw:
                shaped = _namespace(server, kind, item)
                if shaped is not None and shaped["name"] not in seen:
                    seen.add(shaped["name"])
                    items.append(shaped)
            if next_cursor is None:
                index, upstream_cursor = index + 1, None
            else:
                upstream_cursor = next_cursor
            if items:
                break
        if index >= len(order):
            return Page(items)
        return Page(items, self._encode_cursor(kind, order[index].prefix, upstream_cursor))

    async def _table(self, ctx: CallContext, server: ServerConfig, kind: str) -> dict[str, dict[str, Any]]:
        """Exposed name → the upstream's item, over every page of one server (pages cached)."""
        table: dict[str, dict[str, Any]] = {}
        cursor: str | None = None
        for _ in range(_MAX_PAGES_PER_TABLE):
            items, cursor = await self._page(ctx, server, kind, cursor)
            for item in items:
                name = item.get("name")
                if isinstance(name, str) and _namespace(server, kind, item) is not None:
                    table.setdefault(exposed_name(server, name), item)
            if cursor is None:
                break
        return table

    async def _route(self, ctx: CallContext, kind: str, name: str) -> tuple[ServerConfig, dict[str, Any]]:
        """The server and upstream item behind an exposed name, by table lookup."""
        candidates = [s for s in self.servers if name.startswith(s.prefix + SEPARATOR)]
        label = "tool" if kind == "tools" else "prompt"
        for server in candidates:
            try:
                table = await self._table(ctx, server, kind)
            except UpstreamError as exc:
                raise _unavailable(server, exc) from None
            except UpstreamRpcError as exc:
                raise McpError(exc.code, exc.message, exc.data) from None
            item = table.get(name)
            if item is not None:
                return server, item
        raise protocol.invalid_params(f"Unknown {label}: {name}")

    # --- calls ---------------------------------------------------------------------------------------
    async def call_tool(self, ctx: CallContext, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        ctx.greq.log["endpoint"] = name[:200]
        server, item = await self._route(ctx, "tools", name)
        if server.rate_limit_per_minute:
            limit = ratelimit.Limit(f"mcp:{server.id}:m", server.rate_limit_per_minute, 60, "minute")
            try:
                await ratelimit.enforce([limit])
            except PromptGateError as exc:  # 429 or limiter down: JSON-RPC needs its own shape
                ctx.greq.log["error_code"] = exc.code
                raise McpError(protocol.UPSTREAM_ERROR, f"Rate limit of {server.prefix!r} exceeded") from None
        params = {"name": item["name"], "arguments": arguments}
        return await self._upstream_call(ctx, server, "tools/call", params)

    async def _upstream_call(
        self, ctx: CallContext, server: ServerConfig, method: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            result = await self._request(ctx, server, method, params)
        except UpstreamError as exc:
            ctx.greq.log["error_code"] = exc.code
            raise _unavailable(server, exc) from None
        except UpstreamRpcError as exc:
            ctx.greq.log["error_code"] = f"rpc_{exc.code}"[:60]
            raise McpError(exc.code, exc.message, exc.data) from None
        finally:
            ctx.greq.upstream_ms = (ctx.greq.upstream_ms or 0.0) + (time.perf_counter() - started) * 1000
        if result.get("isError") is True:
            ctx.greq.log["error_code"] = "tool_error"
        return result

    async def read_resource(self, ctx: CallContext, uri: str) -> dict[str, Any]:
        server, original = self._resource_server(uri)
        ctx.greq.log["endpoint"] = f"{server.prefix}{SEPARATOR}resource"
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
        params: dict[str, Any] = {"name": item["name"]}
        if arguments:
            params["arguments"] = arguments
        return await self._upstream_call(ctx, server, "prompts/get", params)

    async def end_session(self, upstream_sessions: dict[str, str]) -> None:
        by_id = {str(server.id): server for server in self.servers}
        for server_id, packed in upstream_sessions.items():
            server = by_id.get(server_id)
            if server is not None:
                await upstream.end_session(server, packed)


def _unavailable(server: ServerConfig, exc: UpstreamError) -> McpError:
    return McpError(
        protocol.UPSTREAM_ERROR,
        f"MCP server {server.prefix!r} is unavailable: {exc.message}",
        {"server": server.prefix, "reason": exc.code},
    )
