"""Admin console for provider routing: credentials, templates, settings (superusers) and assignments."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from credentials import providers
from credentials.models import Credential, ProviderAssignment, ProviderSetting, ProviderTemplate
from gateways.ai.providers.registry import PROVIDER_CHOICES, get_adapter, requires_base_url
from gateways.common import ssrf
from projects import admin_roles
from projects.models import Project
from promptgate.errors import PromptGateError


class SuperuserAdmin(admin.ModelAdmin):
    """Global resources: visible and editable by superusers only."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.has_module_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)


class ProjectScopedAdmin(admin.ModelAdmin):
    """Rows of a project: seen by its members, changed by its admins (the `manage_endpoints` action)."""

    change_action = "manage_endpoints"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        rows = super().get_queryset(request).select_related("project")
        if request.user.is_superuser:
            return rows
        return rows.filter(project_id__in=admin_roles.project_ids_where(request, "view"))

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "project" and not request.user.is_superuser:
            ids = admin_roles.project_ids_where(request, self.change_action)
            kwargs["queryset"] = Project.objects.filter(pk__in=ids)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return admin_roles.can(request, None, "view")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return admin_roles.can(request, obj.project if obj else None, "view")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return admin_roles.can(request, None, self.change_action)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return admin_roles.can(request, obj.project if obj else None, self.change_action)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return admin_roles.can(request, obj.project if obj else None, self.change_action)


class CredentialForm(forms.ModelForm):
    """The key is write-only here too: never rendered back; left empty on change, it is kept."""

    provider = forms.ChoiceField(choices=PROVIDER_CHOICES)
    api_key = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False),
        help_text="Write-only. Leave empty to keep the current key.",
    )
    base_url = forms.URLField(required=False, max_length=500, assume_scheme="https")

    class Meta:
        model = Credential
        fields = ["provider", "name", "api_key", "base_url", "options"]

    def clean_base_url(self) -> str:
        value = self.cleaned_data.get("base_url") or ""
        if value:
            try:
                ssrf.check_saved_url(value, "base_url")
            except (ssrf.SsrfBlocked, PromptGateError) as exc:
                raise forms.ValidationError(exc.message) from None
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        provider = data.get("provider") or ""
        if not provider:
            return data
        key = data.get("api_key") or ""
        if not key and self.instance.pk:
            data["api_key"] = self.instance.api_key  # unchanged
        elif not get_adapter(provider).validate_api_key(key):
            self.add_error("api_key", providers.INVALID_KEY)
        if requires_base_url(provider) and not data.get("base_url"):
            self.add_error("base_url", "This provider needs a base URL.")
        return data


@admin.register(Credential)
class CredentialAdmin(SuperuserAdmin):
    form = CredentialForm
    list_display = ("name", "provider", "key_hint", "base_url", "updated_at")
    list_filter = ("provider",)
    search_fields = ("name", "provider")
    actions = ("test_connection",)

    @admin.display(description="API key")
    def key_hint(self, obj: Credential) -> str:
        return providers.key_hint(obj.api_key)

    @admin.action(description="Test connection")
    def test_connection(self, request: HttpRequest, queryset: QuerySet[Credential]) -> None:
        for credential in queryset[:20]:
            check = providers.check_connection(credential)
            level = messages.SUCCESS if check.ok else messages.ERROR
            self.message_user(request, f"{credential.name}: {check.message} ({check.latency_ms} ms)", level)


class ProviderChoiceForm(forms.ModelForm):
    provider = forms.ChoiceField(choices=PROVIDER_CHOICES)


@admin.register(ProviderTemplate)
class ProviderTemplateAdmin(SuperuserAdmin):
    form = ProviderChoiceForm
    list_display = ("name", "provider", "model", "enabled", "updated_at")
    list_filter = ("provider", "enabled")
    search_fields = ("name", "model")
    fields = ("name", "provider", "model", "parameters", "enabled")


@admin.register(ProviderSetting)
class ProviderSettingAdmin(SuperuserAdmin):
    form = ProviderChoiceForm
    list_display = ("provider", "enabled", "updated_at")
    list_editable = ("enabled",)
    fields = ("provider", "enabled")


class AssignmentForm(ProviderChoiceForm):
    class Meta:
        model = ProviderAssignment
        fields = ["project", "provider", "credential"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        credential, provider = data.get("credential"), data.get("provider")
        if credential is not None and provider:
            error = providers.assignment_error(provider, credential)
            if error:
                self.add_error("credential", error)
        project = data.get("project")
        if project is not None and project.project_type not in ("ai_gateway", "ai_wrapper"):
            self.add_error("project", "Provider assignments belong to ai_gateway and ai_wrapper projects.")
        return data


@admin.register(ProviderAssignment)
class ProviderAssignmentAdmin(ProjectScopedAdmin):
    form = AssignmentForm
    list_display = ("project", "provider", "credential", "created_at")
    list_filter = ("provider",)
    search_fields = ("project__name", "provider", "credential__name")
