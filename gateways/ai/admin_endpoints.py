"""Admin of AI endpoints and their sessions, scoped by project role, with a playground per endpoint."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from gateways.ai import playground
from gateways.ai.models import ENDPOINT_FIELDS, AIEndpoint, Session
from projects import admin_roles
from projects.admin_roles import ProjectScopedAdmin, ReadOnlyAdmin, check_project_type
from projects.models import Project
from projects.project_types import PROJECT_TYPES, Resource


class AIEndpointForm(forms.ModelForm):
    class Meta:
        model = AIEndpoint
        fields = ["project", *ENDPOINT_FIELDS]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        check_project_type(self, PROJECT_TYPES[Resource.AI_ENDPOINT], "AI endpoints")
        return data


@admin.register(AIEndpoint)
class AIEndpointAdmin(ProjectScopedAdmin):
    form = AIEndpointForm
    project_types = PROJECT_TYPES[Resource.AI_ENDPOINT]
    list_display = (
        "slug",
        "project",
        "enabled",
        "mcp_tool",
        "sessions_enabled",
        "playground_link",
        "updated_at",
    )
    list_filter = (("project", admin.RelatedOnlyFieldListFilter), "enabled", "mcp_tool", "sessions_enabled")
    search_fields = ("slug", "description", "project__name")
    readonly_fields = ("playground_link",)

    def get_readonly_fields(self, request: HttpRequest, obj: AIEndpoint | None = None) -> tuple[str, ...]:
        return (*self.readonly_fields, "project") if obj is not None else ()

    @admin.display(description="Playground")
    def playground_link(self, obj: AIEndpoint) -> str:
        if obj.pk is None:
            return "-"
        return format_html(
            '<a href="{}">Open the playground</a>', reverse("admin:ai_aiendpoint_playground", args=[obj.pk])
        )

    def get_urls(self) -> list[Any]:
        custom = [
            path(
                "<int:pk>/playground/",
                self.admin_site.admin_view(self.playground_view),
                name="ai_aiendpoint_playground",
            ),
            # Async and streaming: not wrapped by admin_view (sync); it checks session, staff and role itself.
            path("<int:pk>/playground/run/", playground.run_view, name="ai_aiendpoint_playground_run"),
        ]
        return custom + super().get_urls()

    def playground_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        endpoint = get_object_or_404(self.get_queryset(request), pk=pk)
        if not admin_roles.can(request, endpoint.project, playground.RUN_ACTION):
            return HttpResponse("Your role in this project does not allow running its endpoints", status=403)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Playground: {endpoint.slug}",
            "endpoint": endpoint,
            "variables": playground.form_variables(endpoint),
            "run_url": reverse("admin:ai_aiendpoint_playground_run", args=[endpoint.pk]),
        }
        return TemplateResponse(request, "ai/playground.html", context)


@admin.register(Session)
class SessionAdmin(ReadOnlyAdmin):
    """Conversations: read by the project's developers and above, deleted by its admins; never edited."""

    list_display = ("key", "endpoint", "project", "message_count", "updated_at", "expires_at")
    list_select_related = ("endpoint", "endpoint__project")
    list_filter = (("endpoint__project", admin.RelatedOnlyFieldListFilter),)
    search_fields = ("key", "endpoint__slug")
    fields = ("key", "endpoint", "messages", "created_at", "updated_at", "expires_at")
    readonly_fields = fields

    @admin.display(description="Project")
    def project(self, obj: Session) -> str:
        return str(obj.endpoint.project)

    @admin.display(description="Messages")
    def message_count(self, obj: Session) -> int:
        return len(obj.messages or [])

    def get_queryset(self, request: HttpRequest) -> QuerySet[Session]:
        rows = super().get_queryset(request).select_related("endpoint__project")
        if request.user.is_superuser:
            return rows
        return rows.filter(endpoint__project_id__in=admin_roles.project_ids_where(request, "read_logs"))

    def project_of(self, obj: Session) -> Project:
        return obj.endpoint.project

    def has_delete_permission(self, request: HttpRequest, obj: Session | None = None) -> bool:
        return admin_roles.can(request, obj.endpoint.project if obj else None, "manage_endpoints")
