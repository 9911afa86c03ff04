"""The console's own pages: the dashboard (the admin's home) and a project's overview."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.utils import timezone

from console import charts, figures, snippets
from gateways.mcp.models import McpServer
from projects import admin_roles
from projects.models import Project

GATEWAY_LABELS = {"ai": "AI", "http": "HTTP APIs", "mcp": "MCP", "meta": "Introspection"}


def _charts(points: list[dict[str, Any]]) -> list[Any]:
    return [
        charts.chart(points, [("requests", "requests")], "", "Requests"),
        charts.chart(points, [("error_rate", "error rate")], "%", "Error rate (4xx and 5xx)"),
        charts.chart(points, [("p50", "p50"), ("p95", "p95")], "ms", "Latency"),
        charts.chart(points, [("cost", "spend")], "$", "Spend"),
    ]


def _names(uuids: list[str]) -> dict[str, Project]:
    return {str(p.uuid): p for p in Project.objects.filter(uuid__in=uuids)}


def dashboard_context(request: HttpRequest) -> dict[str, Any]:
    user, now = request.user, timezone.now()
    window = figures.window_of(request.GET.get("window"))
    since = window.start(now).isoformat()
    points = figures.series(user, window, now)
    top_projects = figures.top(user, window, "project", now)
    projects = _names([row["project"] for row in top_projects])
    for row in top_projects:
        row["object"] = projects.get(row["project"])
        row["logs"] = figures.logs_url(project=row["project"], since=since)
    by_gateway = figures.top(user, window, "gateway", now, limit=10)
    for row in by_gateway:
        row["label"] = GATEWAY_LABELS.get(row["gateway"], row["gateway"])
        row["error_rate"] = 100.0 * row["errors"] / row["requests"] if row["requests"] else 0.0
        row["logs"] = figures.logs_url(gateway=row["gateway"], since=since)
    top_models = figures.top(user, window, "model", now)
    for row in top_models:
        row["logs"] = figures.logs_url(model=row["model"], since=since)
    top_tokens = figures.top(user, window, "token", now)
    for row in top_tokens:
        row["logs"] = figures.logs_url(token=row["token"], since=since)
    providers = figures.top(user, figures.WINDOWS["1h"], "provider", now, limit=20)
    for row in providers:
        row["error_rate"] = 100.0 * row["errors"] / row["requests"] if row["requests"] else 0.0
        row["logs"] = figures.logs_url(
            provider=row["provider"], since=figures.WINDOWS["1h"].start(now).isoformat()
        )
    errors = figures.recent_errors(user, window, now)
    error_projects = _names([str(e.project_uuid) for e in errors])
    return {
        "window": window,
        "windows": figures.WINDOWS.values(),
        "totals": figures.overall(user, window, now),
        "charts": _charts(points),
        "by_gateway": by_gateway,
        "top_projects": top_projects,
        "top_models": top_models,
        "top_tokens": top_tokens,
        "recent_errors": [(e, error_projects.get(str(e.project_uuid))) for e in errors],
        "errors_logs": figures.logs_url(status__gte=400, since=since),
        "all_logs": figures.logs_url(since=since),
        "mcp_servers": _mcp_servers(request),
        "providers": providers,
        "budgets": figures.budgets(user, now),
    }


def _mcp_servers(request: HttpRequest) -> list[Any]:
    servers = McpServer.objects.select_related("project").order_by("-last_status", "prefix")
    if not request.user.is_superuser:
        servers = servers.filter(project_id__in=admin_roles.project_ids_where(request, "view"))
    return list(servers[:20])


def project_overview(request: HttpRequest, uuid: Any) -> HttpResponse:
    """What a project is and how to call it, per its type, with its own traffic charts."""
    project = get_object_or_404(Project, uuid=uuid)
    if not admin_roles.can(request, project, "view"):
        raise PermissionDenied
    user, now = request.user, timezone.now()
    window = figures.window_of(request.GET.get("window"))
    key = str(project.uuid)
    base_url = request.build_absolute_uri(f"/api/{project.uuid}")
    context = {
        **request_admin_context(request),
        "title": project.name,
        "project": project,
        "window": window,
        "windows": figures.WINDOWS.values(),
        "base_url": base_url,
        "snippets": snippets.for_project(project, base_url),
        "totals": figures.overall(user, window, now, key),
        "charts": _charts(figures.series(user, window, now, key)),
        "logs": figures.logs_url(project=key, since=window.start(now).isoformat()),
        "errors_logs": figures.logs_url(project=key, status__gte=400, since=window.start(now).isoformat()),
        **snippets.objects_of(project, with_tools=request.GET.get("tools") == "1"),
    }
    return TemplateResponse(request, "console/project_overview.html", context)


def request_admin_context(request: HttpRequest) -> dict[str, Any]:
    return {**admin.site.each_context(request), "opts": Project._meta}
