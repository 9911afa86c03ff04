"""Read-only management API views over the audit trail and the request log, cursor-paginated."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.handlers.asgi import ASGIRequest
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

from audit import export
from audit.api.filters import AuditLogFilter, RequestLogFilter
from audit.api.keyset import KeysetPagination
from audit.api.serializers import AuditLogSerializer, RequestLogSerializer
from audit.models import AuditLog, RequestLog
from projects.api.base import ManagementViewMixin, schema_generation
from projects.api.permissions import project_uuids_for
from promptgate.errors import ErrorCode, PromptGateError


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
                # str(): the stubs type Cursor.position as int; CursorPagination keeps the ordering
                # field's value as the text it decoded from the cursor.
                valid = parse_datetime(str(cursor.position)) is not None
            except ValueError:
                valid = False
            if not valid:
                raise NotFound(self.invalid_cursor_message)
        return cursor


class ExportNegotiation(DefaultContentNegotiation):
    """`format` names the export's format (jsonl, csv), not a DRF renderer: errors still render as JSON."""

    def select_renderer(
        self, request: Any, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        first = next(iter(renderers))
        return first, first.media_type


class AuditLogViewSet(ManagementViewMixin, viewsets.ReadOnlyModelViewSet):
    """The audit trail. Superusers see every row; others the rows of projects they are members of."""

    serializer_class = AuditLogSerializer
    filterset_class = AuditLogFilter
    pagination_class = NewestFirstCursorPagination

    def get_queryset(self) -> QuerySet[AuditLog]:
        if schema_generation(self):
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
        if schema_generation(self):
            return RequestLog.objects.none()
        uuids = project_uuids_for(self.request.user, "read_logs")
        rows = RequestLog.objects.all()
        return rows if uuids is None else rows.filter(project_uuid__in=uuids)

    @extend_schema(
        parameters=[
            OpenApiParameter("project", OpenApiTypes.UUID, required=True, description="Project uuid."),
            OpenApiParameter("since", OpenApiTypes.STR, required=True, description="Day or ISO 8601 time."),
            OpenApiParameter("until", OpenApiTypes.STR, required=True, description="Day (included) or time."),
            OpenApiParameter(
                "format", OpenApiTypes.STR, enum=list(export.FORMATS), description="jsonl (default)."
            ),
        ],
        filters=False,
        responses={(200, "application/x-ndjson"): OpenApiTypes.STR, (200, "text/csv"): OpenApiTypes.STR},
    )
    @action(
        detail=False,
        methods=["get"],
        url_path="export",
        pagination_class=None,
        filter_backends=[],
        content_negotiation_class=ExportNegotiation,
    )
    def export(self, request: Request) -> StreamingHttpResponse:
        """A project's rows of a time range, oldest first, streamed as JSON Lines or CSV (bounded memory)."""
        params = request.query_params
        try:
            project, since, until, fmt = export.parse_range(
                params.get("project"), params.get("since"), params.get("until"), params.get("format")
            )
        except export.ExportError as exc:
            raise PromptGateError(str(exc), code=ErrorCode.VALIDATION_ERROR) from None
        uuids = project_uuids_for(request.user, "read_logs")
        if uuids is not None and project not in {str(u) for u in uuids}:
            raise PromptGateError("Not found", code=ErrorCode.NOT_FOUND, status=404)
        # Under ASGI an async iterator, or Django would read a sync one whole before sending it.
        asgi = isinstance(request._request, ASGIRequest)
        chunks = (
            export.astream(project, since, until, fmt) if asgi else export.stream(project, since, until, fmt)
        )
        response = StreamingHttpResponse(chunks, content_type=export.CONTENT_TYPES[fmt])
        name = f"request-logs-{project}-{since:%Y%m%dT%H%M%S}-{until:%Y%m%dT%H%M%S}.{fmt}"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
