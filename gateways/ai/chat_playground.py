"""The console's chat playground for `ai_gateway` projects: models and aliases, streamed.

The page calls the project's public route `POST /api/{uuid}/v1/chat/completions` itself, with a project
token the member pastes (scope `ai`; kept in the page only, never sent to the console). So a run takes
the data plane's one path and no side door: authenticated, held to the project's and the token's
budgets and rates, guarded, logged (one RequestLog row, found by its `X-Request-Id`) and counted in
usage like any other call. The page shows the exact request body it sent beside the answer.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse

from credentials.models import ProviderTemplate
from gateways.ai.models import ModelAlias
from projects.models import Project, ProjectType

RUN_ACTION = "read_logs"  # the developer role and above, as the AI-endpoint playground


def model_choices(project: Project) -> list[dict[str, str]]:
    """What the model field offers: the project's aliases, then the enabled provider templates."""
    aliases = ModelAlias.objects.filter(project=project).order_by("alias").values_list("alias", "target")
    templates = ProviderTemplate.objects.filter(enabled=True).order_by("name")
    return [{"name": alias, "label": f"alias → {target}"} for alias, target in aliases] + [
        {"name": t.name, "label": f"template → {t.provider}:{t.model}"} for t in templates
    ]


def page_context(request: HttpRequest, project: Project) -> dict[str, Any]:
    return {
        "project": project,
        "models": model_choices(project),
        "chat_url": f"/api/{project.uuid}/v1/chat/completions",
        "logs_url": reverse("admin:audit_requestlog_changelist"),
        "is_ai_gateway": project.project_type == ProjectType.AI_GATEWAY,
    }
