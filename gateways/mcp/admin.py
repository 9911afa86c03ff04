"""Admin console for upstream MCP servers: role-scoped, bearer token write-only, test connection, health."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html

from console.forms import UpstreamUrlForm
from gateways.mcp.models import SETTINGS_FIELDS, McpServer
from gateways.mcp.services import PREFIX_TAKEN, test_connection
from projects import admin_roles
from projects.project_types import PROJECT_TYPES, Resource
from promptgate.errors import PromptGateError


class McpServerForm(UpstreamUrlForm):
    upstream_url = forms.CharField(max_length=2000, label="Upstream URL")
    new_bearer_token = forms.CharField(
        label="Bearer token",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Sent upstream as Authorization: Bearer. Stored encrypted, never shown.",
    )
    clear_bearer_token = forms.BooleanField(label="Remove the bearer token", required=False)

    class Meta:
        model = McpServer
        fields = ("project", "prefix", "upstream_url", *SETTINGS_FIELDS)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        admin_roles.secret_help(self, "new_bearer_token", "Blank keeps it.")

    def clean_new_bearer_token(self) -> str:
        value = self.cleaned_data.get("new_bearer_token", "")
        if any(c in value for c in "\r\n\0"):
            raise forms.ValidationError("Must not contain line breaks")
        return value

    def _post_clean(self) -> None:
        token = self.cleaned_data.get("new_bearer_token")
        if token:
            self.instance.bearer_token = token
        elif self.cleaned_data.get("clear_bearer_token"):
            self.instance.bearer_token = ""
        super()._post_clean()

    def validate_unique(self) -> None:
        project = self.cleaned_data.get("project") or getattr(self.instance, "project", None)
        prefix = self.cleaned_data.get("prefix")
        if project is None or not prefix:
            return
        if McpServer.objects.filter(project=project, prefix=prefix).exclude(pk=self.instance.pk).exists():
            self.add_error("prefix", PREFIX_TAKEN)


@admin.register(McpServer)
class McpServerAdmin(admin_roles.ProjectScopedAdmin):
    form = McpServerForm
    project_types = PROJECT_TYPES[Resource.MCP_SERVER]
    list_display = ("prefix", "project", "upstream_url", "enabled", "health", "updated_at")
    list_select_related = ("project",)
    list_filter = (("project", admin.RelatedOnlyFieldListFilter), "enabled", "last_status")
    search_fields = ("prefix", "upstream_url", "project__name")
    readonly_fields = ("has_bearer_token", "health", "last_error", "last_checked_at", "test_button")
    actions = ("test_connections",)

    def get_fields(self, request: HttpRequest, obj: McpServer | None = None) -> tuple[str, ...]:
        fields = list(McpServerForm.Meta.fields)
        if self.has_change_permission(request, obj):
            fields += ["new_bearer_token", "clear_bearer_token"]
        if obj is not None:
            fields += ["has_bearer_token", "health", "last_error", "last_checked_at", "test_button"]
        return tuple(fields)

    def get_readonly_fields(self, request: HttpRequest, obj: McpServer | None = None) -> tuple[str, ...]:
        return (*self.readonly_fields, "project") if obj is not None else self.readonly_fields

    @admin.display(description="Bearer token", boolean=True)
    def has_bearer_token(self, obj: McpServer) -> bool:
        return bool(obj.bearer_token)

    @admin.display(description="Health", ordering="last_status")
    def health(self, obj: McpServer) -> str:
        if obj.last_status == "down":
            return format_html('<strong style="color:#ba2121">down</strong> {}', obj.last_error)
        return obj.last_status

    @admin.display(description="Connection")
    def test_button(self, obj: McpServer) -> str:
        url = reverse("admin:mcp_mcpserver_test", args=[obj.pk])
        return format_html(
            '<button type="submit" formaction="{}" formmethod="post">Test connection</button>', url
        )

    # --- test connection ------------------------------------------------------------------------------
    def get_urls(self) -> list[Any]:
        custom = [
            path("<int:pk>/test/", self.admin_site.admin_view(self.test_view), name="mcp_mcpserver_test"),
        ]
        return custom + super().get_urls()

    def _report(self, request: HttpRequest, server: McpServer) -> None:
        try:
            outcome = test_connection(server)
        except PromptGateError as exc:
            self.message_user(request, f"{server.prefix}: {exc.message}", messages.ERROR)
            return
        names = ", ".join(t["exposed_name"] for t in outcome["tools"]) or "(no tools)"
        self.message_user(
            request, f"{server.prefix}: {len(outcome['tools'])} tools: {names}", messages.SUCCESS
        )
        for warning in outcome["warnings"]:
            self.message_user(request, f"{warning}: many clients reject such names", messages.WARNING)

    def test_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        server = get_object_or_404(self.get_queryset(request), pk=pk)
        if not self.has_change_permission(request, server):
            return HttpResponse(status=403)
        self._report(request, server)
        return HttpResponseRedirect(reverse("admin:mcp_mcpserver_change", args=[pk]))

    @admin.action(description="Test connection (list the upstream's tools)")
    def test_connections(self, request: HttpRequest, queryset: QuerySet[McpServer]) -> None:
        for server in queryset.select_related("project")[:20]:
            if self.has_change_permission(request, server):
                self._report(request, server)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> Any:
        server = self.get_queryset(request).filter(pk=object_id).first() if object_id.isdigit() else None
        if server is not None and server.last_status == "down" and request.method == "GET":
            self.message_user(
                request, f"Upstream {server.prefix} was last seen down: {server.last_error}", messages.WARNING
            )
        return super().change_view(request, object_id, form_url, extra_context)
