"""Admin console of OAuth connections: settings, Connect / Refresh now / Disconnect, status at a glance.

Project admins and owners (and superusers) only. The client secret is write-only (a blank field keeps
it) and the tokens are never rendered.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_POST

from console.forms import InstanceCheckedForm
from credentials.models import FLOW_FIELDS, OAuthConnection
from credentials.oauth import flow, presets, services
from projects import admin_roles
from projects.project_types import PROJECT_TYPES, Resource
from promptgate.errors import PromptGateError

ACTION = "manage_endpoints"


class OAuthConnectionForm(InstanceCheckedForm):
    provider = forms.ChoiceField(choices=presets.PROVIDER_CHOICES)
    client_secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Write-only: never shown again.",
    )
    scopes = forms.CharField(required=False, help_text="Space-separated; empty: the preset's defaults.")
    auth_method = forms.ChoiceField(choices=[(m, m) for m in presets.AUTH_METHODS], required=False)
    options = forms.JSONField(required=False, help_text='Microsoft: {"tenant": "your-tenant-id"}.')
    authorize_url = forms.URLField(required=False, max_length=1000, assume_scheme="https")
    token_url = forms.URLField(required=False, max_length=1000, assume_scheme="https")
    revoke_url = forms.URLField(required=False, max_length=1000, assume_scheme="https")

    class Meta:
        model = OAuthConnection
        fields = ("project", *services.WRITABLE_FIELDS)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initial["scopes"] = " ".join(self.instance.scopes or [])
        options = self.instance.options or {}
        self.initial["options"] = {k: v for k, v in options.items() if k in services.WRITABLE_OPTIONS}
        self.initial.pop("client_secret", None)
        admin_roles.secret_help(self, "client_secret", "Leave blank to keep the current secret.")

    def clean_client_secret(self) -> str:
        value = self.cleaned_data.get("client_secret") or self.instance.client_secret
        if not value:
            raise ValidationError("Required.")
        return value

    def clean_scopes(self) -> list[str]:
        return (self.cleaned_data.get("scopes") or "").split()

    def clean_options(self) -> dict[str, Any]:
        submitted = self.cleaned_data.get("options") or {}
        if not isinstance(submitted, dict):
            raise ValidationError("Must be an object.")
        return services.writable_options(self.instance.options or {}, submitted)

    def clean_auth_method(self) -> str:
        return self.cleaned_data.get("auth_method") or "client_secret_post"

    def _post_clean(self) -> None:
        super()._post_clean()
        if self.errors:
            return
        try:
            services.prepare(self.instance)
        except ValidationError as exc:
            self._update_errors(exc)


@admin.register(OAuthConnection)
class OAuthConnectionAdmin(admin_roles.ProjectScopedAdmin):
    form = OAuthConnectionForm
    # Project admins and owners only, for reading too: the page drives the provider's consent flow.
    view_action = change_action = ACTION
    project_types = PROJECT_TYPES[Resource.OAUTH_CONNECTION]
    change_form_template = "oauth/admin_change_form.html"
    list_display = ("name", "project", "provider", "status", "expires_at", "last_refreshed_at")
    list_filter = ("provider", "status")
    search_fields = ("name", "project__name", "client_id")
    readonly_fields = FLOW_FIELDS
    fieldsets = (
        (
            None,
            {"fields": ("project", "name", "provider", "client_id", "client_secret", "scopes", "options")},
        ),
        (
            "Custom provider (presets fill these in)",
            {"fields": ("authorize_url", "token_url", "revoke_url", "auth_method", "use_pkce")},
        ),
        ("State", {"fields": readonly_fields}),
    )

    def get_readonly_fields(
        self, request: HttpRequest, obj: OAuthConnection | None = None
    ) -> tuple[str, ...]:
        # Project and provider are fixed once created: tokens belong to that provider and project.
        return (*self.readonly_fields, "project", "provider") if obj is not None else self.readonly_fields

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        # The redirect URI the provider must know before Connect can work (add page included: the
        # operator registers the OAuth app at the provider first, then copies its client id here).
        extra_context = {**(extra_context or {}), "callback_uri": flow.callback_uri(request)}
        return super().changeform_view(request, object_id, form_url, extra_context)

    # --- flow buttons -----------------------------------------------------------------------------
    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/connect/", wrap(self.connect_view), name="credentials_oauthconnection_connect"),
            path(
                "<int:pk>/refresh/",
                wrap(require_POST(self.refresh_view)),
                name="credentials_oauthconnection_refresh",
            ),
            path(
                "<int:pk>/disconnect/",
                wrap(require_POST(self.disconnect_view)),
                name="credentials_oauthconnection_disconnect",
            ),
            *super().get_urls(),
        ]

    def _connection(self, request: HttpRequest, pk: int) -> OAuthConnection:
        conn = get_object_or_404(self.get_queryset(request), pk=pk)
        if not self.has_change_permission(request, conn):
            raise PermissionDenied
        return conn

    def _back(self, conn: OAuthConnection) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:credentials_oauthconnection_change", args=[conn.pk]))

    def connect_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        conn = self._connection(request, pk)
        return HttpResponseRedirect(flow.authorize_url(conn, request.user, flow.callback_uri(request)))

    def refresh_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        conn = self._connection(request, pk)
        try:
            services.refresh_now(conn)
            messages.success(request, "The access token was refreshed.")
        except PromptGateError as exc:
            messages.error(request, exc.message)
        return self._back(conn)

    def disconnect_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        conn = self._connection(request, pk)
        revoked = services.disconnect(conn)
        messages.success(request, "Disconnected" + (" and revoked at the provider." if revoked else "."))
        return self._back(conn)


from credentials import admin_providers  # noqa: E402, F401  (registers the provider-routing admins)
