"""A project's overview content: copyable snippets to call it, and the objects of its type."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gateways.guardrails.resolution import resolve_guardrails
from gateways.mcp.services import test_connection
from projects.models import Project, ProjectType
from promptgate.errors import PromptGateError

if TYPE_CHECKING:
    from gateways.mcp.models import McpServer

AI_TYPES = (ProjectType.AI_GATEWAY, ProjectType.AI_WRAPPER)


def for_project(project: Project, base_url: str) -> list[dict[str, str]]:
    """[{title, code}] for the project's type; tokens are placeholders (they are shown once, at issue)."""
    token = "pg_live_…" if project.env != "dev" else "pg_test_…"
    out: list[dict[str, str]] = []
    kind = project.project_type
    if kind == ProjectType.AI_GATEWAY:
        model = _first_model(project)
        out.append(
            {
                "title": "curl: chat completion",
                "code": f"curl {base_url}/v1/chat/completions \\\n"
                f'  -H "Authorization: Bearer {token}" -H "Content-Type: application/json" \\\n'
                f'  -d \'{{"model": "{model}", "messages": [{{"role": "user", "content": "Hello"}}]}}\'',
            }
        )
        out.append(
            {
                "title": "Python: the openai SDK",
                "code": "from openai import OpenAI\n\n"
                f'client = OpenAI(base_url="{base_url}/v1", api_key="{token}")\n'
                f'reply = client.chat.completions.create(model="{model}", '
                'messages=[{"role": "user", "content": "Hello"}])\n'
                "print(reply.choices[0].message.content)",
            }
        )
    if kind in AI_TYPES:
        endpoint = project.ai_endpoints.order_by("slug").first()
        slug = endpoint.slug if endpoint else "SLUG"
        out.append(
            {
                "title": "curl: run an AI endpoint",
                "code": f"curl {base_url}/ai/{slug} \\\n"
                f'  -H "Authorization: Bearer {token}" -H "Content-Type: application/json" \\\n'
                "  -d '{\"variables\": {}}'",
            }
        )
    if kind == ProjectType.API_GATEWAY:
        api_endpoint = project.api_endpoints.order_by("slug").first()
        slug = api_endpoint.slug if api_endpoint else "SLUG"
        out.append(
            {
                "title": "curl: call an API endpoint",
                "code": f'curl {base_url}/proxy/{slug}/PATH -H "Authorization: Bearer {token}"',
            }
        )
    if kind in (*AI_TYPES, ProjectType.MCP_GATEWAY):
        config = {
            "mcpServers": {
                project.slug: {"url": f"{base_url}/mcp", "headers": {"Authorization": f"Bearer {token}"}}
            }
        }
        out.append(
            {
                "title": "MCP client configuration (JSON)",
                "code": json.dumps(config, indent=2, ensure_ascii=False),
            }
        )
    return out


def _first_model(project: Project) -> str:
    alias = project.model_aliases.order_by("alias").first()
    return alias.alias if alias else "openai:gpt-4o-mini"


def objects_of(project: Project, with_tools: bool = False) -> dict[str, Any]:
    """The type's own objects, the project's tokens, effective guardrails and webhooks."""

    kind = project.project_type
    context: dict[str, Any] = {
        "tokens": list(project.tokens.order_by("-created_at")[:20]),
        "guardrails": resolve_guardrails(project.pk),
        "webhooks": list(project.webhooks.order_by("url")),
    }
    if kind in AI_TYPES:
        context["ai_endpoints"] = list(project.ai_endpoints.order_by("slug"))
        context["assignments"] = list(project.provider_assignments.select_related("credential"))
    if kind == ProjectType.AI_GATEWAY:
        context["aliases"] = list(project.model_aliases.order_by("alias"))
    if kind == ProjectType.API_GATEWAY:
        context["api_endpoints"] = list(project.api_endpoints.order_by("slug"))
        context["oauth_connections"] = list(project.oauth_connections.order_by("name"))
    if kind == ProjectType.MCP_GATEWAY:
        context["mcp_servers"] = [
            ServerTools(server, *_tools(server)) if with_tools else ServerTools(server)
            for server in project.mcp_servers.order_by("prefix")
        ]
        context["with_tools"] = with_tools
    return context


@dataclass(frozen=True)
class ServerTools:
    """An MCP server's row on the overview, with its tools when they were listed."""

    server: McpServer
    catalogue: list[dict[str, Any]] = field(default_factory=list)
    catalogue_error: str = ""


def _tools(server: McpServer) -> tuple[list[dict[str, Any]], str]:
    """The upstream's tools as clients see them, listed now (this also records the server's health)."""

    if not server.enabled:
        return [], "disabled"
    try:
        tools, error = test_connection(server)["tools"], ""
    except PromptGateError as exc:
        tools, error = [], exc.message
    server.refresh_from_db(fields=["last_status", "last_error", "last_checked_at"])  # just recorded
    return tools, error
