"""Read-only management API views over the audit trail and the request log, cursor-paginated."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils.dateparse import parse_datetime
from rest_framework import viewsets
from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination

from audit.api.filters import AuditLogFilter, RequestLogFilter
from audit.api.keyset import KeysetPagination
from audit.api.serializers import AuditLogSerializer, RequestLogSerializer
from audit.models import AuditLog, RequestLog
from projects.api.base import ManagementViewMixin
from projects.api.permissions import project_uuids_for


class NewestFirstCursorPagination(CursorPagination):
    """Stable pages over an append-only table, newest first."""

    ordering = ("-time", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def decode_cursor(self, request: Any) -> Cursor | None:
        cursor = super().decode_cursor(request)
        # A forged position would reach the database as a bad timestamp: refuse it as a bad cursor.
        if cursor is not None and cursor.position is not None:
            try:
                valid = parse_datetime(cursor.position) is not None
            except ValueError:
                valid = False
            if not valid:
                raise NotFound(self.invalid_cursor_message)
        return cursor


class AuditLogViewSet(ManagementViewMixin, viewsets.ReadOnlyModelViewSet):
    """The audit trail. Superusers see every row; others the rows of projects they are members of."""

    serializer_class = AuditLogSerializer
    filterset_class = AuditLogFilter
    pagination_class = NewestFirstCursorPagination

    def get_queryset(self) -> QuerySet[AuditLog]:
        if getattr(self, "swagger_fake_view", False):
            return AuditLog.objects.none()
        uuids = project_uuids_for(self.request.user, "view")
        rows = AuditLog.objects.all()
        return rows if uuids is None else rows.filter(project_uuid__in=uuids)


class RequestLogViewSet(ManagementViewMixin, viewsets.ReadOnlyModelViewSet):
    """Proxied calls of the projects where the caller is developer or above (superusers: all): the raw-log
    search, filtered and keyset-paginated newest first."""

    serializer_class = RequestLogSerializer
    filterset_class = RequestLogFilter
    pagination_class = KeysetPagination

    def get_queryset(self) -> QuerySet[RequestLog]:
        if getattr(self, "swagger_fake_view", False):
            return RequestLog.objects.none()
        uuids = project_uuids_for(self.request.user, "read_logs")
        rows = RequestLog.objects.all()
        return rows if uuids is None else rows.filter(project_uuid__in=uuids)
