"""A project's request-log retention: GET/PUT /manage/api/v1/projects/{uuid}/log-retention/.

Shorter than the global retention only (PROMPTGATE_LOG_RETENTION_DAYS, PROMPTGATE_ROLLUP_RETENTION_DAYS);
`null` keeps the global one. Readable by the project's viewers, changed by its admins (audited).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import path
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, views
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from audit.models import LogRetention
from projects.api.base import ProjectScopedMixin
from projects.roles import can


class LogRetentionSerializer(serializers.Serializer):
    log_days = serializers.IntegerField(min_value=1, allow_null=True, required=False)
    rollup_days = serializers.IntegerField(min_value=1, allow_null=True, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        limits = {
            "log_days": settings.PROMPTGATE_LOG_RETENTION_DAYS,
            "rollup_days": settings.PROMPTGATE_ROLLUP_RETENTION_DAYS,
        }
        errors = {
            name: [f"at most {limit} days (the global retention); a project may only keep less"]
            for name, limit in limits.items()
            if attrs.get(name) is not None and attrs[name] > limit
        }
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


def _shape(row: LogRetention | None) -> dict[str, Any]:
    log_days = row.log_days if row is not None else None
    rollup_days = row.rollup_days if row is not None else None
    return {
        "log_days": log_days,
        "rollup_days": rollup_days,
        "effective_log_days": min(log_days or 10**9, settings.PROMPTGATE_LOG_RETENTION_DAYS),
        "effective_rollup_days": min(rollup_days or 10**9, settings.PROMPTGATE_ROLLUP_RETENTION_DAYS),
    }


RESPONSE = inline_serializer(
    "LogRetention",
    {
        "log_days": serializers.IntegerField(allow_null=True),
        "rollup_days": serializers.IntegerField(allow_null=True),
        "effective_log_days": serializers.IntegerField(),
        "effective_rollup_days": serializers.IntegerField(),
    },
)


class LogRetentionView(ProjectScopedMixin, views.APIView):
    """The project's retention of raw request logs and rollups (days; null: the global setting)."""

    @extend_schema(responses={200: RESPONSE})
    def get(self, request: Request, project_uuid: str) -> Response:
        project = self.get_project()
        return Response(_shape(LogRetention.objects.filter(project_uuid=project.uuid).first()))

    @extend_schema(request=LogRetentionSerializer, responses={200: RESPONSE})
    def put(self, request: Request, project_uuid: str) -> Response:
        project = self.get_project()
        if not can(request.user, project, "edit"):
            raise PermissionDenied("Your role in this project does not allow this")
        serializer = LogRetentionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        row, _ = LogRetention.objects.get_or_create(project_uuid=project.uuid)
        row.log_days = serializer.validated_data.get("log_days")
        row.rollup_days = serializer.validated_data.get("rollup_days")
        row.save()  # audited (audit/signals.py)
        return Response(_shape(row))


urlpatterns = [
    path(
        "projects/<str:project_uuid>/log-retention/", LogRetentionView.as_view(), name="project-log-retention"
    )
]
