"""Admin of per-project AI settings: model aliases and usage limits, scoped by project role."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin

from credentials import providers
from gateways.ai.models import ModelAlias, UsageLimit
from gateways.ai.providers.registry import split_model
from gateways.ai.services import AI_PROJECT_TYPES
from projects.admin_roles import ProjectScopedAdmin, check_project_type


class AliasForm(forms.ModelForm):
    class Meta:
        model = ModelAlias
        fields = ["project", "alias", "target"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        target, alias = data.get("target"), data.get("alias")
        if target:
            error = providers.alias_target_error(target)
            if error:
                self.add_error("target", error)
        if alias and split_model(alias) is not None:
            self.add_error("alias", "An alias cannot have the form provider:model.")
        check_project_type(self, AI_PROJECT_TYPES, "Model aliases")
        return data


@admin.register(ModelAlias)
class ModelAliasAdmin(ProjectScopedAdmin):
    form = AliasForm
    project_types = AI_PROJECT_TYPES
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
    project_types = AI_PROJECT_TYPES
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
