"""Admin console for provider routing: credentials, templates, settings (superusers) and assignments."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from credentials import providers
from credentials.models import Credential, ProviderAssignment, ProviderSetting, ProviderTemplate
from gateways.ai import services as ai_services
from gateways.ai.providers.registry import PROVIDER_CHOICES, get_adapter, requires_base_url
from gateways.common import ssrf
from projects.admin_roles import ProjectScopedAdmin, SuperuserAdmin, check_project_type, secret_help
from projects.project_types import PROJECT_TYPES, Resource
from promptgate.errors import PromptGateError


class CredentialForm(forms.ModelForm):
    """The key is write-only here too: never rendered back; left empty on change, it is kept."""

    provider = forms.ChoiceField(choices=PROVIDER_CHOICES)
    api_key = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False),
        help_text="Write-only: never shown again.",
    )
    base_url = forms.URLField(required=False, max_length=500, assume_scheme="https")

    class Meta:
        model = Credential
        fields = ["provider", "name", "api_key", "base_url", "options"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        secret_help(self, "api_key", "Leave empty to keep the current key.")

    def clean_base_url(self) -> str:
        value = self.cleaned_data.get("base_url") or ""
        if value:
            try:
                ssrf.check_saved_url(value, "base_url")
            except (ssrf.SsrfBlocked, PromptGateError) as exc:
                raise forms.ValidationError(exc.message) from None
        return value

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
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
            check = ai_services.check_connection(credential)
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
        super().clean()
        data = self.cleaned_data
        credential, provider = data.get("credential"), data.get("provider")
        if credential is not None and provider:
            error = providers.assignment_error(provider, credential)
            if error:
                self.add_error("credential", error)
        check_project_type(self, PROJECT_TYPES[Resource.PROVIDER_ASSIGNMENT], "Provider assignments")
        return data


@admin.register(ProviderAssignment)
class ProviderAssignmentAdmin(ProjectScopedAdmin):
    form = AssignmentForm
    project_types = PROJECT_TYPES[Resource.PROVIDER_ASSIGNMENT]
    list_display = ("project", "provider", "credential", "created_at")
    list_filter = ("provider",)
    search_fields = ("project__name", "provider", "credential__name")
