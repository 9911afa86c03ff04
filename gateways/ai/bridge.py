"""The MCP bridge of ai_gateway and ai_wrapper projects: AI endpoints marked `mcp_tool` as MCP tools.

A ToolSource behind the MCP protocol layer of gateways/mcp (both client eras, sessions, framing): each
tool is named by its endpoint's slug (already a valid tool name), takes the declared variables as its
input schema, and runs the endpoint through the same runner as /ai/{slug}. An endpoint with an output
schema answers structuredContent beside the text. Tool calls run without AI endpoint sessions.
"""

from __future__ import annotations

from typing import Any

from gateways.ai import config, runner
from gateways.ai.config import EndpointConfig
from gateways.common.router import GatewayRequest
from gateways.guardrails import ai_endpoints as guardrails
from gateways.guardrails.verdicts import GuardrailBlocked
from gateways.mcp import handler, protocol
from gateways.mcp.protocol import McpError
from gateways.mcp.source import CallContext, Page, ToolSource
from projects.project_types import PROJECT_TYPES, Resource
from promptgate.errors import PromptGateError


def tool_of(endpoint: EndpointConfig) -> dict[str, Any]:
    tool: dict[str, Any] = {
        "name": endpoint.slug,
        "description": endpoint.description or f"Runs the AI endpoint {endpoint.slug}.",
        "inputSchema": config.input_schema(endpoint),
    }
    schema = endpoint.output_schema
    if isinstance(schema, dict) and schema.get("type") == "object":
        tool["outputSchema"] = schema  # MCP output schemas describe objects only
    return tool


def _error_result(exc: PromptGateError) -> dict[str, Any]:
    text = f"{exc.code}: {exc.message}"
    for name, messages in (exc.fields or {}).items():
        text += f"\n{name}: {' '.join(messages)}"
    return {"content": [{"type": "text", "text": text}], "isError": True}


class Bridge:
    """ToolSource over a project's AI endpoints (a fresh, cheap instance per request)."""

    def __init__(self, project_name: str, by_slug: dict[str, EndpointConfig]) -> None:
        self.project_name = project_name
        self.tools = {
            slug: endpoint
            for slug, endpoint in sorted(by_slug.items())
            if endpoint.mcp_tool and endpoint.enabled
        }

    def server_info(self) -> dict[str, Any]:
        return {"name": f"PromptGate AI endpoints: {self.project_name}", "version": "1"}

    def capabilities(self) -> dict[str, Any]:
        return {"tools": {"listChanged": False}}

    def instructions(self) -> str | None:
        return None

    async def list(self, ctx: CallContext, kind: str, cursor: str | None) -> Page:
        if kind != "tools":
            return Page([])
        return Page([tool_of(endpoint) for endpoint in self.tools.values()])

    async def call_tool(self, ctx: CallContext, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        endpoint = self.tools.get(name)
        if endpoint is None:
            raise McpError(protocol.INVALID_PARAMS, f"Unknown tool: {name[:100]}")
        greq = ctx.greq
        try:
            prepared = await runner.prepare(greq, endpoint, arguments, use_session=False)
            rules = await guardrails.endpoint_input(greq, name, prepared)
            result = await runner.run(greq, prepared)
            guardrails.endpoint_output(greq, rules, result)
        except GuardrailBlocked as exc:  # MCP: a JSON-RPC error whose data.code is guardrail_blocked
            greq.log["error_code"] = exc.code
            error = exc.jsonrpc_error()
            raise McpError(error["code"], error["message"], error["data"]) from None
        except PromptGateError as exc:
            greq.log["error_code"] = exc.code
            return _error_result(exc)
        answer: dict[str, Any] = {"content": [{"type": "text", "text": result.output}], "isError": False}
        if result.has_parsed:
            parsed = result.parsed
            answer["structuredContent"] = parsed if isinstance(parsed, dict) else {"result": parsed}
        return answer

    async def read_resource(self, ctx: CallContext, uri: str) -> dict[str, Any]:
        raise McpError(protocol.INVALID_PARAMS, "This server has no resources")

    async def get_prompt(self, ctx: CallContext, name: str, arguments: dict[str, str]) -> dict[str, Any]:
        raise McpError(protocol.INVALID_PARAMS, "This server has no prompts")

    async def end_session(self, upstream_sessions: dict[str, str]) -> None:
        return None

    async def cancel(self, ctx: CallContext, request_id: Any, reason: str) -> None:
        return None  # endpoint runs finish on their own; nothing upstream to tell


async def bridge_source(greq: GatewayRequest) -> ToolSource:
    return Bridge(greq.project.name, await config.endpoints_of(greq))


def register() -> None:
    """Serve the bridge at /api/{uuid}/mcp of AI projects (called by the data plane's composition root)."""
    for project_type in PROJECT_TYPES[Resource.AI_ENDPOINT]:
        handler.register_source(project_type, bridge_source)
