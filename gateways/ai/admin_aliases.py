"""Admin of per-project AI settings: model aliases and usage limits, scoped by project role."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from gateways.ai import chat_playground, services
from gateways.ai.models import ModelAlias, UsageLimit
from gateways.ai.providers.registry import split_model
from projects import admin_roles
from projects.admin_roles import ProjectScopedAdmin, check_project_type
from projects.models import Project, ProjectType
from projects.project_types import PROJECT_TYPES, Resource


class AliasForm(forms.ModelForm):
    class Meta:
        model = ModelAlias
        fields = ["project", "alias", "target"]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        target, alias = data.get("target"), data.get("alias")
        if target:
            error = services.alias_target_error(target)
            if error:
                self.add_error("target", error)
        if alias and split_model(alias) is not None:
            self.add_error("alias", "An alias cannot have the form provider:model.")
        check_project_type(self, PROJECT_TYPES[Resource.MODEL_ALIAS], "Model aliases")
        return data


@admin.register(ModelAlias)
class ModelAliasAdmin(ProjectScopedAdmin):
    form = AliasForm
    project_types = PROJECT_TYPES[Resource.MODEL_ALIAS]
    list_display = ("alias", "target", "project", "chat_link", "created_at")
    search_fields = ("alias", "target", "project__name")

    @admin.display(description="Chat playground")
    def chat_link(self, obj: ModelAlias) -> str:
        if obj.project.project_type != ProjectType.AI_GATEWAY:
            return "-"  # an ai_wrapper project answers its AI endpoints only
        url = reverse("admin:ai_chat_playground", args=[obj.project_id])
        return format_html('<a href="{}?model={}">Chat</a>', url, obj.alias)

    def get_urls(self) -> list[Any]:
        chat = path(
            "chat/<int:project_pk>/", self.admin_site.admin_view(self.chat_view), name="ai_chat_playground"
        )
        return [chat, *super().get_urls()]

    def chat_view(self, request: HttpRequest, project_pk: int) -> HttpResponse:
        """The chat playground of an ai_gateway project (gateways/ai/chat_playground.py)."""
        project = get_object_or_404(Project, pk=project_pk, project_type=ProjectType.AI_GATEWAY)
        if not admin_roles.can(request, project, chat_playground.RUN_ACTION):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Chat playground: {project.name}",
            "model": request.GET.get("model", ""),
            **chat_playground.page_context(request, project),
        }
        return TemplateResponse(request, "ai/chat_playground.html", context)


class UsageLimitForm(forms.ModelForm):
    class Meta:
        model = UsageLimit
        fields = [
            "project",
            "token",
            "daily_budget",
            "monthly_budget",
            "requests_per_minute",
            "tokens_per_minute",
        ]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        token, project = data.get("token"), data.get("project")
        if token is not None and project is not None and token.project_id != project.pk:
            self.add_error("token", "This token belongs to another project.")
        return data


@admin.register(UsageLimit)
class UsageLimitAdmin(ProjectScopedAdmin):
    form = UsageLimitForm
    # Budgets are money: the project's admins set them, like its other settings.
    change_action = "edit"
    project_types = PROJECT_TYPES[Resource.USAGE_LIMIT]
    list_display = (
        "project",
        "token",
        "daily_budget",
        "monthly_budget",
        "requests_per_minute",
        "tokens_per_minute",
        "updated_at",
    )
    raw_id_fields = ("token",)
