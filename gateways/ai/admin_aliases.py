"""Admin of per-project AI settings: model aliases and usage limits, scoped by project role."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin

from credentials import providers
from credentials.admin_providers import ProjectScopedAdmin
from gateways.ai.models import ModelAlias, UsageLimit
from gateways.ai.providers.registry import split_model

AI_TYPES = ("ai_gateway", "ai_wrapper")


class AliasForm(forms.ModelForm):
    class Meta:
        model = ModelAlias
        fields = ["project", "alias", "target"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        target, alias, project = data.get("target"), data.get("alias"), data.get("project")
        if target:
            error = providers.alias_target_error(target)
            if error:
                self.add_error("target", error)
        if alias and split_model(alias) is not None:
            self.add_error("alias", "An alias cannot have the form provider:model.")
        if project is not None and project.project_type not in AI_TYPES:
            self.add_error("project", "Model aliases belong to ai_gateway and ai_wrapper projects.")
        return data


@admin.register(ModelAlias)
class ModelAliasAdmin(ProjectScopedAdmin):
    form = AliasForm
    list_display = ("alias", "target", "project", "created_at")
    search_fields = ("alias", "target", "project__name")


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
        data = super().clean()
        token, project = data.get("token"), data.get("project")
        if token is not None and project is not None and token.project_id != project.pk:
            self.add_error("token", "This token belongs to another project.")
        return data


@admin.register(UsageLimit)
class UsageLimitAdmin(ProjectScopedAdmin):
    form = UsageLimitForm
    # Budgets are money: the project's admins set them, like its other settings.
    change_action = "edit"
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
