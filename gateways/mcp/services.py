"""MCP server services: saving a server and testing its connection, for the management API and the admin."""

from __future__ import annotations

import asyncio
from typing import Any

from gateways.common import ssrf
from gateways.mcp import health, upstream
from gateways.mcp.aggregate import tool_allowed
from gateways.mcp.config import snapshot
from gateways.mcp.models import SEPARATOR, TOOL_NAME_LIMIT, McpServer
from projects.models import Project
from projects.project_types import PROJECT_TYPES, Resource
from projects.services import require_project_type, save_validated
from promptgate.errors import ErrorCode, PromptGateError

PREFIX_TAKEN = "An MCP server with this prefix already exists in this project."
TEST_TIMEOUT_SECONDS = 60


def ensure_mcp_gateway(project: Project) -> None:
    require_project_type(project, PROJECT_TYPES[Resource.MCP_SERVER], "MCP servers belong to")


def save_server(server: McpServer, changes: dict[str, Any]) -> McpServer:
    """Apply wire changes, validate as the model does, save. An absent bearer_token keeps the stored one."""
    ensure_mcp_gateway(server.project)

    def refuse(fields: dict[str, list[str]]) -> PromptGateError:
        if "project" in fields:
            ensure_mcp_gateway(server.project)
        blocked = (
            ssrf.refusal_error(server.upstream_url, "upstream_url", fields)
            if "upstream_url" in fields
            else None
        )
        return blocked or PromptGateError("Invalid input", code=ErrorCode.VALIDATION_ERROR, fields=fields)

    return save_validated(server, changes, unique="prefix", taken=PREFIX_TAKEN, refuse=refuse)


def long_names(server: McpServer, names: list[str]) -> list[str]:
    return [
        f"{server.prefix}{SEPARATOR}{n}"
        for n in names
        if len(server.prefix) + len(SEPARATOR) + len(n) > TOOL_NAME_LIMIT
    ]


def test_connection(server: McpServer) -> dict[str, Any]:
    """List the upstream's tools now (sync callers: admin and API); records the upstream's health."""
    config = snapshot(server)

    async def run() -> list[dict[str, Any]]:
        return await asyncio.wait_for(upstream.list_tools_for_test(config), TEST_TIMEOUT_SECONDS)

    try:
        tools = asyncio.run(run())
    except upstream.McpUpstreamError as exc:
        health.record_sync(server.pk, ok=False, error=exc.message)
        raise PromptGateError(exc.message, code=exc.code, status=502) from None
    except upstream.UpstreamRpcError as exc:
        health.record_sync(server.pk, ok=False, error=exc.message)
        raise PromptGateError(
            f"upstream error: {exc.message}", code=ErrorCode.UPSTREAM_ERROR, status=502
        ) from None
    except TimeoutError:
        health.record_sync(server.pk, ok=False, error="timed out")
        raise PromptGateError(
            "upstream did not answer in time", code=ErrorCode.UPSTREAM_TIMEOUT, status=504
        ) from None
    health.record_sync(server.pk, ok=True)
    names = [t["name"] for t in tools if isinstance(t.get("name"), str)]
    return {
        "ok": True,
        "tools": [
            {
                "name": tool["name"],
                "exposed_name": f"{server.prefix}{SEPARATOR}{tool['name']}",
                "description": tool.get("description") or "",
                "allowed": tool_allowed(config, tool["name"]),
            }
            for tool in tools
            if isinstance(tool.get("name"), str)
        ],
        "warnings": [
            f"{name} is longer than {TOOL_NAME_LIMIT} characters" for name in long_names(server, names)
        ],
    }
