"""Composition root of the data plane: which routes exist under /api/{uuid}/ and who serves them."""

from __future__ import annotations

from audit.choices import Gateway
from gateways.ai import bridge, endpoint_view, messages_api, openai_api
from gateways.ai.config import list_endpoints as ai_endpoints_listed
from gateways.ai.errors import openai_error_response
from gateways.common.introspection import EndpointLister, Introspection
from gateways.common.router import DataPlane, Route
from gateways.common.runtime import Runtime
from gateways.http.config import list_endpoints as http_endpoints
from gateways.http.proxy import proxy
from gateways.mcp.config import list_endpoints as mcp_endpoints
from gateways.mcp.handler import mcp_handler
from projects.project_types import PROJECT_TYPES, Resource

GET = frozenset({"GET"})


def endpoint_listers() -> list[EndpointLister]:
    return [http_endpoints, mcp_endpoints, ai_endpoints_listed]


def build_data_plane() -> DataPlane:
    introspection = Introspection(endpoint_listers())
    bridge.register()
    routes = [
        Route("info", introspection.info, scope="admin", gateway=Gateway.META, methods=GET, exact=True),
        Route(
            "endpoints", introspection.endpoints, scope="admin", gateway=Gateway.META, methods=GET, exact=True
        ),
        Route("tokens", introspection.tokens, scope="admin", gateway=Gateway.META, methods=GET, exact=True),
        Route(
            "v1",
            openai_api.handle,
            scope="ai",
            gateway=Gateway.AI,
            project_types=frozenset(PROJECT_TYPES[Resource.OPENAI_COMPATIBLE]),
            error_response=openai_error_response,
            error_responses_by_tail=(("messages", messages_api.error_response),),
            cors=True,
        ),
        Route(
            "ai",
            endpoint_view.handle,
            scope="ai",
            gateway=Gateway.AI,
            project_types=frozenset(PROJECT_TYPES[Resource.AI_ENDPOINT]),
            cors=True,
        ),
        Route(
            "proxy",
            proxy,
            scope="proxy",
            gateway=Gateway.HTTP,
            project_types=frozenset(PROJECT_TYPES[Resource.API_ENDPOINT]),
        ),
        Route(
            "mcp",
            mcp_handler,
            scope="mcp",
            gateway=Gateway.MCP,
            project_types=frozenset(PROJECT_TYPES[Resource.MCP_URL]),
            exact=True,
            cors=True,
        ),
    ]
    return DataPlane(routes, Runtime())
