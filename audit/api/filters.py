"""Query filters of the audit trail and request log endpoints (django-filter)."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django_filters import rest_framework as filters
from rest_framework.exceptions import ValidationError

from audit.models import AuditLog, RequestLog


class AuditLogFilter(filters.FilterSet):
    project = filters.UUIDFilter(field_name="project_uuid", help_text="Project uuid.")
    actor = filters.CharFilter(method="filter_actor", help_text="Actor label (username, client name) or id.")
    actor_type = filters.CharFilter(help_text="user, api_client, token, system or anonymous.")
    action = filters.CharFilter(help_text="create, update, delete, activate, token_issue, …")
    object_type = filters.CharFilter(help_text="app_label.model, e.g. projects.apitoken.")
    since = filters.IsoDateTimeFilter(
        field_name="time", lookup_expr="gte", help_text="From this time (ISO 8601)."
    )
    until = filters.IsoDateTimeFilter(
        field_name="time", lookup_expr="lte", help_text="Up to this time (ISO 8601)."
    )

    class Meta:
        model = AuditLog
        fields = ["project", "actor", "actor_type", "action", "object_type", "since", "until"]

    def filter_actor(self, queryset: QuerySet[AuditLog], name: str, value: str) -> QuerySet[AuditLog]:
        return queryset.filter(Q(actor_label=value) | Q(actor_id=value))


class RequestLogFilter(filters.FilterSet):
    """The raw-log search. Each filter narrows the rows an index of (project, …, time) walks newest first
    (see RequestLog.Meta.indexes); pagination is keyset (keyset.py)."""

    project = filters.UUIDFilter(field_name="project_uuid", help_text="Project uuid.")
    status = filters.CharFilter(
        method="filter_status", help_text="HTTP status answered (404), or a class (4xx)."
    )
    gateway = filters.CharFilter(help_text="ai, http, mcp or meta.")
    endpoint = filters.CharFilter(help_text="Endpoint slug or AI route (chat.completions, embeddings, …).")
    token = filters.CharFilter(field_name="token_prefix", help_text="Token prefix (pg_live_abcd…).")
    model = filters.CharFilter(help_text="Model answered.")
    provider = filters.CharFilter(help_text="Provider (openai, anthropic, …).")
    error_code = filters.CharFilter(help_text="Error code (upstream_timeout, rate_limited, …).")
    request_id = filters.CharFilter(help_text="X-Request-Id of the call.")
    latency_above = filters.NumberFilter(
        field_name="latency_ms", lookup_expr="gt", help_text="Only calls slower than this (ms)."
    )
    since = filters.IsoDateTimeFilter(
        field_name="time", lookup_expr="gte", help_text="From this time (ISO 8601)."
    )
    until = filters.IsoDateTimeFilter(
        field_name="time", lookup_expr="lte", help_text="Up to this time (ISO 8601)."
    )

    class Meta:
        model = RequestLog
        fields = [
            "project",
            "status",
            "gateway",
            "endpoint",
            "token",
            "model",
            "provider",
            "error_code",
            "request_id",
            "latency_above",
            "since",
            "until",
        ]

    def filter_status(self, queryset: QuerySet[RequestLog], name: str, value: str) -> QuerySet[RequestLog]:
        text = value.strip().lower()
        if len(text) == 3 and text[0] in "12345" and text[1:] == "xx":
            low = int(text[0]) * 100
            return queryset.filter(status__gte=low, status__lt=low + 100)
        if text.isdigit() and 100 <= int(text) <= 599:
            return queryset.filter(status=int(text))
        raise ValidationError({"status": ["an HTTP status (404) or a class (4xx)"]})
