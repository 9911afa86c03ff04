"""Management API for upstream MCP servers (/manage/api/v1/projects/{uuid}/mcp-servers/{id}/)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from gateways.mcp import services
from gateways.mcp.models import SETTINGS_FIELDS, McpServer
from projects.api.base import ProjectResourceViewSet, StrictFieldsMixin, documented_writes, manage_actions
from projects.models import Project
from promptgate.errors import PromptGateError, error_body


class McpServerSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    upstream_url = serializers.CharField(
        max_length=2000, help_text="Streamable HTTP URL of the upstream MCP server."
    )
    bearer_token = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        max_length=8000,
        help_text='Sent upstream as Authorization: Bearer; write-only. Omit to keep, "" to remove.',
    )
    has_bearer_token = serializers.SerializerMethodField()
    timeout_seconds = serializers.IntegerField(
        min_value=1, max_value=300, required=False, help_text="Connect, handshake and list timeout."
    )
    tool_timeout_seconds = serializers.IntegerField(
        min_value=1,
        max_value=3600,
        required=False,
        help_text="How long one tools/call may run (default 120).",
    )
    tool_allow = serializers.ListField(
        child=serializers.CharField(max_length=200), max_length=1000, required=False
    )
    tool_deny = serializers.ListField(
        child=serializers.CharField(max_length=200), max_length=1000, required=False
    )
    rate_limit_per_minute = serializers.IntegerField(
        min_value=1, max_value=2**31 - 1, required=False, allow_null=True
    )

    class Meta:
        model = McpServer
        fields = [
            "id",
            "prefix",
            "upstream_url",
            "bearer_token",
            "has_bearer_token",
            *SETTINGS_FIELDS,
            "last_status",
            "last_error",
            "last_checked_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "last_status", "last_error", "last_checked_at", "created_at", "updated_at"]
        validators: list[Any] = []  # prefix uniqueness per project is checked on save

    def get_has_bearer_token(self, obj: McpServer) -> bool:
        return bool(obj.bearer_token)


@documented_writes(
    McpServerSerializer,
    {400: "validation_error, ssrf_blocked (blocked address class), wrong_project_type, unknown_field."},
    {
        "create": "Register an upstream MCP server",
        "update": "Replace an MCP server",
        "partial_update": "Change an MCP server",
    },
)
class McpServerViewSet(ProjectResourceViewSet):
    """A project's upstream MCP servers. Viewers read; admins and owners write and test."""

    model = McpServer
    ordering = ("prefix", "id")
    serializer_class = McpServerSerializer
    queryset = McpServer.objects.none()
    project_actions = manage_actions("test")

    def check_project(self, project: Project) -> None:
        services.ensure_mcp_gateway(project)

    def save_resource(self, instance: McpServer, changes: dict[str, Any]) -> McpServer:
        return services.save_server(instance, changes)

    @extend_schema(request=None, summary="Test the connection: list the upstream's tools now")
    @action(detail=True, methods=["post"])
    def test(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            return Response(services.test_connection(self.get_object()))
        except PromptGateError as exc:
            # Answered, not raised: a raised error rolls the request back, and the health record with it.
            return Response(error_body(exc.code, exc.message), status=exc.status)


router = SimpleRouter()
router.register(
    r"projects/(?P<project_uuid>[^/.]+)/mcp-servers", McpServerViewSet, basename="project-mcp-server"
)
urlpatterns = router.urls
