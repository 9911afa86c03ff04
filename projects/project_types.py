"""Project types and the one table of what each may hold: read by routes, model clean(), admin and API.

A project's type is fixed at creation. A resource saved on a project of another type is refused
(400 `wrong_project_type` on the API, a form error in the admin, a ValidationError from clean());
a public route asked of a project of another type answers 404 `route_not_in_project_type`.
This module imports no model, so the data plane's route table can read it before apps are ready.
"""

from __future__ import annotations

import enum

from django.db import models


class ProjectType(models.TextChoices):
    AI_GATEWAY = "ai_gateway", "AI gateway"
    AI_WRAPPER = "ai_wrapper", "AI wrapper"
    API_GATEWAY = "api_gateway", "API gateway"
    MCP_GATEWAY = "mcp_gateway", "MCP gateway"


class Resource(enum.StrEnum):
    """What a project may hold (saved resources) or answer (public surfaces)."""

    AI_ENDPOINT = "ai_endpoint"  # also its sessions, its run route and the MCP bridge over it
    MODEL_ALIAS = "model_alias"
    USAGE_LIMIT = "usage_limit"  # budgets and token limits of AI calls
    PROVIDER_ASSIGNMENT = "provider_assignment"
    OPENAI_COMPATIBLE = "openai_compatible"  # /v1/chat/completions, /v1/embeddings, /v1/models, ...
    API_ENDPOINT = "api_endpoint"
    OAUTH_CONNECTION = "oauth_connection"
    MCP_SERVER = "mcp_server"
    MCP_URL = "mcp_url"  # /mcp: the MCP gateway's aggregate, or the AI projects' bridge


AI_PROJECT_TYPES = (ProjectType.AI_GATEWAY, ProjectType.AI_WRAPPER)

PROJECT_TYPES: dict[Resource, tuple[ProjectType, ...]] = {
    Resource.AI_ENDPOINT: AI_PROJECT_TYPES,
    Resource.MODEL_ALIAS: AI_PROJECT_TYPES,
    Resource.USAGE_LIMIT: AI_PROJECT_TYPES,
    Resource.PROVIDER_ASSIGNMENT: AI_PROJECT_TYPES,
    Resource.OPENAI_COMPATIBLE: (ProjectType.AI_GATEWAY,),
    Resource.API_ENDPOINT: (ProjectType.API_GATEWAY,),
    Resource.OAUTH_CONNECTION: (ProjectType.API_GATEWAY,),
    Resource.MCP_SERVER: (ProjectType.MCP_GATEWAY,),
    Resource.MCP_URL: (ProjectType.MCP_GATEWAY, *AI_PROJECT_TYPES),
}


def holds(project_type: str, resource: Resource) -> bool:
    """Whether a project of `project_type` may hold (or answer) `resource`."""
    return project_type in PROJECT_TYPES[resource]
