"""Cached snapshots of a project's McpServers for the data plane, and the introspection listing."""

from __future__ import annotations

from typing import Any

from gateways.common.router import GatewayRequest
from gateways.mcp.models import McpServer
from gateways.mcp.upstream import ServerConfig


def load_servers(project_id: int) -> tuple[ServerConfig, ...]:
    """Enabled servers of a project, ordered by prefix (the aggregate's deterministic order)."""

    rows = McpServer.objects.filter(project_id=project_id, enabled=True).order_by("prefix", "id")
    return tuple(snapshot(row) for row in rows)


def snapshot(row: Any) -> ServerConfig:
    return ServerConfig(
        id=row.id,
        prefix=row.prefix,
        upstream_url=row.upstream_url,
        bearer_token=row.bearer_token or "",
        enabled=row.enabled,
        timeout_seconds=float(row.timeout_seconds),
        tool_timeout_seconds=float(row.tool_timeout_seconds),
        protocol=row.protocol,
        tool_allow=frozenset(row.tool_allow or ()),
        tool_deny=frozenset(row.tool_deny or ()),
        rate_limit_per_minute=row.rate_limit_per_minute,
    )


async def servers_of(greq: GatewayRequest) -> tuple[ServerConfig, ...]:
    project_id = greq.project.id
    return await greq.runtime.config.get(("mcp-servers", project_id), lambda: load_servers(project_id))


def cached_servers(greq: GatewayRequest) -> tuple[ServerConfig, ...]:
    """The project's servers if this process has them cached (no load): for background watchers."""
    value = greq.runtime.config.peek(("mcp-servers", greq.project.id))
    return value if isinstance(value, tuple) else ()


def list_endpoints(project_id: int) -> list[dict[str, Any]]:
    """Introspection: the upstream MCP servers a project aggregates (no URLs' secrets, no tokens)."""

    return [
        {
            "kind": "mcp",
            "slug": row.prefix,
            "path": "mcp",
            "methods": ["POST", "DELETE"],
            "enabled": row.enabled,
            "status": row.last_status,
        }
        for row in McpServer.objects.filter(project_id=project_id).order_by("prefix")
    ]
