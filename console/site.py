"""PromptGate's admin site: its name, navigation by task, the dashboard as home, and project overviews."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import URLPattern, URLResolver, path
from oauth2_provider import models as oauth_models

from console import navigation, views


class ConsoleSite(admin.AdminSite):
    site_header = "PromptGate"
    site_title = "PromptGate console"
    index_title = "Dashboard"
    site_url = None  # no public site to "view": the gateway's routes answer API clients only

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict[str, Any]]:
        apps = super().get_app_list(request, app_label)
        return apps if app_label else navigation.by_task(apps)

    def get_urls(self) -> list[URLResolver | URLPattern]:
        return [
            path(
                "projects/project/<uuid:uuid>/overview/",
                self.admin_view(views.project_overview),
                name="console_project_overview",
            ),
            *super().get_urls(),
        ]

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        context = {
            **self.each_context(request),
            "title": self.index_title,
            **views.dashboard_context(request),
        }
        request.current_app = self.name
        return TemplateResponse(request, "admin/index.html", {**context, **(extra_context or {})})


def hide_internal_tables() -> None:
    """The OAuth toolkit's token, grant and ID-token tables are its bookkeeping, not the operator's:
    unregistered (API clients, its Applications, stay under Access)."""

    for get_model in (
        oauth_models.get_access_token_model,
        oauth_models.get_refresh_token_model,
        oauth_models.get_grant_model,
        oauth_models.get_id_token_model,
    ):
        if admin.site.is_registered(model := get_model()):
            admin.site.unregister(model)
