"""Query filters of the audit trail and request log endpoints (django-filter)."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django_filters import rest_framework as filters

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
    project = filters.UUIDFilter(field_name="project_uuid", help_text="Project uuid.")
    status = filters.NumberFilter(help_text="HTTP status answered.")
    gateway = filters.CharFilter(help_text="ai, http, mcp or meta.")
    since = filters.IsoDateTimeFilter(
        field_name="time", lookup_expr="gte", help_text="From this time (ISO 8601)."
    )
    until = filters.IsoDateTimeFilter(
        field_name="time", lookup_expr="lte", help_text="Up to this time (ISO 8601)."
    )

    class Meta:
        model = RequestLog
        fields = ["project", "status", "gateway", "since", "until"]
