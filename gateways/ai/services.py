"""AI endpoint services: saving an endpoint, for the management API and the admin."""

from __future__ import annotations

from typing import Any

from gateways.ai.models import AIEndpoint
from projects.models import Project
from projects.services import require_project_type, save_validated

AI_PROJECT_TYPES = ("ai_gateway", "ai_wrapper")
SLUG_TAKEN = "An AI endpoint with this slug already exists in this project."


def ensure_ai_project(project: Project) -> None:
    require_project_type(project, AI_PROJECT_TYPES, "AI endpoints belong to")


def save_endpoint(endpoint: AIEndpoint, changes: dict[str, Any]) -> AIEndpoint:
    """Apply wire changes, validate as the model does (clean() included), save; 400 listing each problem."""
    ensure_ai_project(endpoint.project)
    return save_validated(endpoint, changes, unique="slug", taken=SLUG_TAKEN)
