"""Read-only admin for the audit trail and the request log, scoped to the projects a user may read logs of."""

from __future__ import annotations

import datetime
import json
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.core.validators import MaxValueValidator
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from rest_framework.exceptions import ValidationError

from audit.api.filters import RequestLogFilter
from audit.models import AUDIT_SUMMARY_FIELDS, AuditLog, LogRetention, RequestLog
from projects import admin_roles
from projects.models import Project


class LogAdmin(admin_roles.ReadOnlyAdmin):
    """Logs hold their project as values (uuid, name), not a key: scoped by the project's uuid."""

    def may_read(self, request: HttpRequest, obj: Any) -> bool:
        return obj.project_uuid in admin_roles.project_uuids_where(request, self.view_action)

    def scoped(self, request: HttpRequest, qs: QuerySet) -> QuerySet:
        # Non-superusers see rows of their projects only; global rows (logins, credentials) stay hidden.
        if request.user.is_superuser:
            return qs
        return qs.filter(project_uuid__in=admin_roles.project_uuids_where(request, "read_logs"))


class ProjectFilter(admin.SimpleListFilter):
    title = "project"
    parameter_name = "project_uuid"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        projects = Project.objects.all()
        if not request.user.is_superuser:
            projects = projects.filter(pk__in=admin_roles.project_ids_where(request, "read_logs"))
        return [(str(uuid), name) for uuid, name in projects.values_list("uuid", "name")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(project_uuid=self.value()) if self.value() else queryset


def _pretty(value: Any) -> str:
    if value in (None, {}, []):
        return "—"
    return format_html("<pre style='margin:0'>{}</pre>", json.dumps(value, indent=2, sort_keys=True))


@admin.register(AuditLog)
class AuditLogAdmin(LogAdmin):
    date_hierarchy = "time"
    list_display = (
        "time",
        "actor_label",
        "actor_type",
        "action",
        "object_type",
        "object_repr",
        "project_name",
        "ip",
    )
    list_filter = ("action", "actor_type", "object_type", ProjectFilter)
    search_fields = (
        "actor_label",
        "actor_id",
        "object_repr",
        "object_id",
        "project_name",
        "request_id",
    )
    list_per_page = 100
    fields = (
        "time",
        ("actor_type", "actor_id", "actor_label"),
        "action",
        ("object_type", "object_id", "object_repr"),
        ("project_uuid", "project_name"),
        "before_pretty",
        "after_pretty",
        "extra_pretty",
        ("ip", "request_id"),
    )
    readonly_fields = (
        *AUDIT_SUMMARY_FIELDS,
        "before_pretty",
        "after_pretty",
        "extra_pretty",
        "ip",
        "request_id",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[AuditLog]:
        return self.scoped(request, super().get_queryset(request))

    @admin.display(description="Before")
    def before_pretty(self, obj: AuditLog) -> str:
        return _pretty(obj.before)

    @admin.display(description="After")
    def after_pretty(self, obj: AuditLog) -> str:
        return _pretty(obj.after)

    @admin.display(description="Extra")
    def extra_pretty(self, obj: AuditLog) -> str:
        return _pretty(obj.extra)


class FixedChoicesFilter(admin.SimpleListFilter):
    """A filter whose choices are fixed: Django's default lists a field's values with a SELECT DISTINCT
    over the whole table, a scan of every request-log row on each page view."""

    options: tuple[tuple[str, str], ...] = ()
    field = ""

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> tuple[tuple[str, str], ...]:
        return self.options

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(**{self.field: self.value()}) if self.value() else queryset


class GatewayFilter(FixedChoicesFilter):
    title, parameter_name, field = "gateway", "gateway__exact", "gateway"
    options = (("ai", "ai"), ("http", "http"), ("mcp", "mcp"), ("meta", "meta"))


class StatusFilter(FixedChoicesFilter):
    title, parameter_name, field = "status", "status__exact", "status"
    options = tuple(
        (str(code), str(code))
        for code in (200, 201, 204, 400, 401, 403, 404, 413, 429, 499, 500, 502, 503, 504)
    )


@admin.register(LogRetention)
class LogRetentionAdmin(admin_roles.SuperuserAdmin):
    """A project's shorter retention (days; empty: the global PROMPTGATE_*_RETENTION_DAYS). Superusers;
    project admins use the management API (projects/{uuid}/log-retention/)."""

    list_display = ("project_uuid", "log_days", "rollup_days")
    search_fields = ("project_uuid",)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        limits = {
            "log_days": settings.PROMPTGATE_LOG_RETENTION_DAYS,
            "rollup_days": settings.PROMPTGATE_ROLLUP_RETENTION_DAYS,
        }
        for name, limit in limits.items():
            form.base_fields[name].validators.append(MaxValueValidator(limit))
            form.base_fields[
                name
            ].help_text = f"Days, at most {limit} (the global retention); empty: {limit}."
        return form


SEARCH_PARAMS = tuple(RequestLogFilter.base_filters)  # the management API's names: project, status, since, …


class RequestLogChangeList(ChangeList):
    """Keeps the API's search parameters in every link it builds (pages, sorting), but out of Django's
    own field lookups: RequestLogAdmin.get_queryset applies them through the API's filter set."""

    def get_filters_params(self, params: Any = None) -> dict[str, Any]:
        lookups = super().get_filters_params(params)
        for name in SEARCH_PARAMS:
            lookups.pop(name, None)
        return lookups


@admin.register(RequestLog)
class RequestLogAdmin(LogAdmin):
    # No date hierarchy and no value-listing filters: both scan the whole table (100 M rows at scale).
    show_full_result_count = False
    change_list_template = "admin/audit/requestlog/change_list.html"
    list_display = (
        "time_ms",
        "project_link",
        "gateway",
        "method",
        "path_short",
        "status",
        "latency_ms",
        "token_link",
        "endpoint_link",
        "model",
        "tokens_in",
        "tokens_out",
        "error_code",
    )
    list_display_links = ("time_ms",)
    list_filter = (GatewayFilter, StatusFilter, ProjectFilter)
    search_fields = ("path", "endpoint", "token_prefix", "model", "provider", "request_id", "error_code")
    list_per_page = 100
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "time_ms",
                    "request_id",
                    "project_link",
                    ("gateway", "method", "status", "error_code"),
                    "path",
                )
            },
        ),
        ("Caller and upstream", {"fields": ("token_link", "endpoint_link", ("provider", "model"))}),
        (
            "Figures",
            {
                "fields": (
                    ("latency_ms", "upstream_ms"),
                    ("bytes_in", "bytes_out"),
                    ("tokens_in", "tokens_out"),
                    "cost",
                )
            },
        ),
        ("Attempts", {"fields": ("attempts_table",)}),
        ("Guardrail verdicts", {"fields": ("guardrails_table",)}),
    )

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return RequestLogChangeList

    def get_queryset(self, request: HttpRequest) -> QuerySet[RequestLog]:
        # The project's current name, looked up in the same query (the log holds only its uuid).
        name = Project.objects.filter(uuid=OuterRef("project_uuid")).values("name")[:1]
        rows = self.scoped(request, super().get_queryset(request)).annotate(project_name=Subquery(name))
        params = {k: request.GET[k] for k in SEARCH_PARAMS if request.GET.get(k)}
        if not params:
            return rows
        search = RequestLogFilter(params, queryset=rows)
        try:
            if search.is_valid():
                return search.qs
        except ValidationError:
            pass
        raise IncorrectLookupParameters("invalid search")  # the changelist answers with ?e=1

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        fields = [
            (name, RequestLogFilter.base_filters[name].extra.get("help_text", "")) for name in SEARCH_PARAMS
        ]
        context = {
            "search_fields_api": [(n, n.replace("_", " "), h, request.GET.get(n, "")) for n, h in fields]
        }
        return super().changelist_view(request, {**context, **(extra_context or {})})

    def get_readonly_fields(self, request: HttpRequest, obj: RequestLog | None = None) -> list[str]:
        return [
            *(f.name for f in RequestLog._meta.fields),
            "time_ms",
            "project_link",
            "token_link",
            "endpoint_link",
            "attempts_table",
            "guardrails_table",
        ]

    @admin.display(description="Time (UTC)", ordering="time")
    def time_ms(self, obj: RequestLog) -> str:
        return obj.time.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]

    @admin.display(description="Project", ordering="project_name")
    def project_link(self, obj: RequestLog) -> str:
        name = getattr(obj, "project_name", None) or str(obj.project_uuid)
        url = reverse("admin:console_project_overview", args=[obj.project_uuid])
        return format_html('<a href="{}">{}</a>', url, name)

    @admin.display(description="Token")
    def token_link(self, obj: RequestLog) -> str:
        if not obj.token_prefix:
            return "—"
        url = reverse("admin:audit_requestlog_changelist")
        return format_html(
            '<a href="{}?token={}"><code>{}…</code></a>', url, obj.token_prefix, obj.token_prefix
        )

    @admin.display(description="Endpoint")
    def endpoint_link(self, obj: RequestLog) -> str:
        if not obj.endpoint:
            return "—"
        url = reverse("admin:audit_requestlog_changelist")
        return format_html(
            '<a href="{}?project={}&amp;endpoint={}">{}</a>',
            url,
            obj.project_uuid,
            obj.endpoint,
            obj.endpoint,
        )

    @admin.display(description="Path")
    def path_short(self, obj: RequestLog) -> str:
        return obj.path

    @admin.display(description="Attempts")
    def attempts_table(self, obj: RequestLog) -> str:
        return _pretty(obj.attempts)

    @admin.display(description="Verdicts")
    def guardrails_table(self, obj: RequestLog) -> str:
        return _pretty(obj.guardrails)
