"""`/api/{uuid}/mcp`: the MCP protocol layer over the ToolSource the project's type calls for."""

from __future__ import annotations

from gateways.common.http import Response
from gateways.common.router import GatewayRequest
from gateways.mcp import server
from gateways.mcp.aggregate import Aggregator
from gateways.mcp.config import servers_of
from gateways.mcp.source import ToolSource
from projects.project_types import ProjectType
from promptgate.errors import ErrorCode, PromptGateError


async def gateway_source(greq: GatewayRequest) -> ToolSource:
    """mcp_gateway projects: their enabled upstream MCP servers, aggregated."""
    return Aggregator(greq.project.uuid, greq.project.name, await servers_of(greq))


# Project type → its ToolSource. The MCP bridge registers the AI project types here (register_source).
SOURCES: dict[str, server.SourceFactory] = {ProjectType.MCP_GATEWAY: gateway_source}


def register_source(project_type: str, factory: server.SourceFactory) -> None:
    SOURCES[project_type] = factory


async def source_for(greq: GatewayRequest) -> ToolSource:
    factory = SOURCES.get(greq.project.project_type)
    if factory is None:  # the route's project_types and SOURCES disagree: a wiring bug, not the client's
        raise PromptGateError(
            "No MCP source for this project type", code=ErrorCode.ROUTE_NOT_IN_PROJECT_TYPE, status=404
        )
    return await factory(greq)


async def mcp_handler(greq: GatewayRequest) -> Response:
    return await server.serve(greq, source_for)
