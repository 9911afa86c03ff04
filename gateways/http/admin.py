"""Admin console for API endpoints: scoped by project role; injected header values are write-only."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from console.forms import UpstreamUrlForm
from credentials.models import OAuthConnection
from gateways.http.models import HTTP_METHODS, SETTINGS_FIELDS, ApiEndpoint, validate_inject_headers
from gateways.http.services import SLUG_TAKEN, set_inject_headers
from projects import admin_roles
from projects.models import Project
from projects.project_types import PROJECT_TYPES, Resource

# The example must be one the validator accepts: X-Api-Key (like Authorization) carries the caller's
# PromptGate token and is always blocked, so it cannot be injected.
INJECT_EXAMPLE = '{"X-Upstream-Key": "..."}'
INJECT_HELP = (
    f"A JSON object of header name to value, e.g. {INJECT_EXAMPLE}. Host, Authorization, X-Api-Key, "
    "Cookie and hop-by-hop headers cannot be injected. Values are stored encrypted and never shown "
    "again, not even after a failed save. Leave blank to keep the current headers; {} removes them all."
)


class WriteOnlyTextarea(forms.Textarea):
    """A textarea that never renders a value: secrets typed in are not echoed back into the page."""

    def format_value(self, value: Any) -> None:
        return None


class HeaderListField(forms.Field):
    """A list of header names, edited as comma-separated text."""

    def prepare_value(self, value: Any) -> Any:
        return ", ".join(value) if isinstance(value, list) else value

    def to_python(self, value: Any) -> list[str]:
        text = "" if value in self.empty_values else str(value)
        return [name.strip() for name in text.split(",") if name.strip()]


class ApiEndpointForm(UpstreamUrlForm):
    # Plain text: the model checks URL syntax and the SSRF guard, and the form reports whichever refused.
    upstream_url = forms.CharField(max_length=2000, label="Upstream URL")
    allowed_methods = forms.MultipleChoiceField(
        choices=[(m, m) for m in HTTP_METHODS], widget=forms.CheckboxSelectMultiple
    )
    forward_headers = HeaderListField(
        required=False, help_text="Comma-separated; empty forwards every header that is not blocked."
    )
    blocked_headers = HeaderListField(
        required=False, help_text="Comma-separated; Host, Authorization, Cookie, … are always blocked."
    )
    inject_headers_json = forms.CharField(
        label="Injected headers",
        required=False,
        widget=WriteOnlyTextarea(attrs={"rows": 3, "autocomplete": "off", "spellcheck": "false"}),
        help_text=INJECT_HELP,
    )

    class Meta:
        model = ApiEndpoint
        fields = (
            "project",
            "slug",
            "upstream_url",
            "allowed_methods",
            "forward_headers",
            "blocked_headers",
            *SETTINGS_FIELDS,
        )

    def clean_inject_headers_json(self) -> dict[str, str] | None:
        raw = self.cleaned_data.get("inject_headers_json", "").strip()
        if not raw:
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            raise ValidationError("Enter a JSON object of header name to value.") from None
        validate_inject_headers(value)
        return value

    def _project(self) -> Project | None:
        return self.cleaned_data.get("project") or getattr(self.instance, "project", None)

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        connection, project = cleaned.get("oauth_connection"), self._project()
        if connection is not None and project is not None and connection.project_id != project.pk:
            self.add_error("oauth_connection", "Not an OAuth connection of this project.")
        return cleaned

    def validate_unique(self) -> None:
        # The project is read-only on change, so Django would skip the (project, slug) constraint.
        project, slug = self._project(), self.cleaned_data.get("slug")
        if project is None or not slug:
            return
        taken = ApiEndpoint.objects.filter(project=project, slug=slug).exclude(pk=self.instance.pk)
        if taken.exists():
            self.add_error("slug", SLUG_TAKEN)


@admin.register(ApiEndpoint)
class ApiEndpointAdmin(admin_roles.ProjectScopedAdmin):
    form = ApiEndpointForm
    project_types = PROJECT_TYPES[Resource.API_ENDPOINT]
    list_display = ("slug", "project", "upstream_url", "enabled", "timeout_seconds", "updated_at")
    list_select_related = ("project",)
    list_filter = (("project", admin.RelatedOnlyFieldListFilter), "enabled")
    search_fields = ("slug", "upstream_url", "project__name", "project__slug")
    readonly_fields = ("inject_header_names", "created_at", "updated_at")

    # --- fields ------------------------------------------------------------------------------------
    def get_fields(self, request: HttpRequest, obj: ApiEndpoint | None = None) -> tuple[str, ...]:
        fields = list(ApiEndpointForm.Meta.fields)
        if obj is not None:
            fields += ["inject_header_names"]
        if self.has_change_permission(request, obj):
            fields += ["inject_headers_json"]
        if obj is not None:
            fields += ["created_at", "updated_at"]
        return tuple(fields)

    def get_readonly_fields(self, request: HttpRequest, obj: ApiEndpoint | None = None) -> tuple[str, ...]:
        # An endpoint stays in its project: its slug, OAuth connection and audit trail belong there.
        return (*self.readonly_fields, "project") if obj is not None else self.readonly_fields

    @admin.display(description="Injected header names")
    def inject_header_names(self, obj: ApiEndpoint) -> str:
        return ", ".join(sorted(obj.inject_headers)) or "(none)"

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "oauth_connection":
            kwargs["queryset"] = self._manageable(request, OAuthConnection.objects.all(), "project_id")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def _manageable(self, request: HttpRequest, qs: QuerySet, project_key: str) -> QuerySet:
        if request.user.is_superuser:
            return qs
        ids = admin_roles.project_ids_where(request, "manage_endpoints")
        return qs.filter(**{f"{project_key}__in": ids})

    # --- writes ------------------------------------------------------------------------------------
    def save_model(self, request: HttpRequest, obj: ApiEndpoint, form: forms.ModelForm, change: bool) -> None:
        headers = form.cleaned_data.get("inject_headers_json")
        if headers is not None:
            set_inject_headers(obj, headers)
        super().save_model(request, obj, form, change)
