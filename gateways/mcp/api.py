"""Management API for upstream MCP servers (/manage/api/v1/projects/{uuid}/mcp-servers/{id}/)."""

from __future__ import annotations

import asyncio
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from gateways.common import ssrf
from gateways.mcp import health, upstream
from gateways.mcp.config import snapshot
from gateways.mcp.models import MCP_GATEWAY, SEPARATOR, TOOL_NAME_LIMIT, McpServer
from projects.api.base import ErrorSerializer, StrictFieldsMixin
from projects.api.views import ProjectScopedMixin
from projects.models import Project
from projects.services import require_project_type
from promptgate.errors import PromptGateError, error_body

PREFIX_TAKEN = "An MCP server with this prefix already exists in this project."
TEST_TIMEOUT_SECONDS = 60


def ensure_mcp_gateway(project: Project) -> None:
    require_project_type(project, {MCP_GATEWAY}, "MCP servers belong to")


def _prefix_taken(server: McpServer) -> bool:
    others = McpServer.objects.filter(project_id=server.project_id, prefix=server.prefix)
    return others.exclude(pk=server.pk).exists() if server.pk else others.exists()


def save_server(server: McpServer, changes: dict[str, Any]) -> McpServer:
    """Apply wire changes, validate as the model does, save. An absent bearer_token keeps the stored one."""
    ensure_mcp_gateway(server.project)
    for name, value in changes.items():
        setattr(server, name, value)
    errors: dict[str, list[str]] = {}
    try:
        server.full_clean(validate_constraints=False)
    except ValidationError as exc:
        errors = {name: list(messages) for name, messages in exc.message_dict.items()}
    if server.prefix and _prefix_taken(server):
        errors.setdefault("prefix", []).append(PREFIX_TAKEN)
    if errors:
        if "project" in errors:
            ensure_mcp_gateway(server.project)
        blocked = (
            ssrf.refusal_error(server.upstream_url, "upstream_url", errors)
            if "upstream_url" in errors
            else None
        )
        if blocked is not None:
            raise blocked
        raise PromptGateError("Invalid input", code="validation_error", fields=errors)
    try:
        with transaction.atomic():
            server.save()
    except IntegrityError:
        raise PromptGateError(
            "Invalid input", code="validation_error", fields={"prefix": [PREFIX_TAKEN]}
        ) from None
    return server


def long_names(server: McpServer, names: list[str]) -> list[str]:
    return [
        f"{server.prefix}{SEPARATOR}{n}"
        for n in names
        if len(server.prefix) + len(SEPARATOR) + len(n) > TOOL_NAME_LIMIT
    ]


def test_connection(server: McpServer) -> dict[str, Any]:
    """List the upstream's tools now (sync callers: admin and API); records the upstream's health."""
    config = snapshot(server)

    async def run() -> list[dict[str, Any]]:
        return await asyncio.wait_for(upstream.list_tools_for_test(config), TEST_TIMEOUT_SECONDS)

    try:
        tools = asyncio.run(run())
    except upstream.UpstreamError as exc:
        health.record_sync(server.pk, ok=False, error=exc.message)
        raise PromptGateError(exc.message, code=exc.code, status=502) from None
    except upstream.UpstreamRpcError as exc:
        health.record_sync(server.pk, ok=False, error=exc.message)
        raise PromptGateError(f"upstream error: {exc.message}", code="upstream_error", status=502) from None
    except TimeoutError:
        health.record_sync(server.pk, ok=False, error="timed out")
        raise PromptGateError(
            "upstream did not answer in time", code="upstream_timeout", status=504
        ) from None
    health.record_sync(server.pk, ok=True)
    names = [t["name"] for t in tools if isinstance(t.get("name"), str)]
    from gateways.mcp.aggregate import tool_allowed

    return {
        "ok": True,
        "tools": [
            {
                "name": tool["name"],
                "exposed_name": f"{server.prefix}{SEPARATOR}{tool['name']}",
                "description": tool.get("description") or "",
                "allowed": tool_allowed(config, tool["name"]),
            }
            for tool in tools
            if isinstance(tool.get("name"), str)
        ],
        "warnings": [
            f"{name} is longer than {TOOL_NAME_LIMIT} characters" for name in long_names(server, names)
        ],
    }


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
            "enabled",
            "timeout_seconds",
            "tool_timeout_seconds",
            "protocol",
            "tool_allow",
            "tool_deny",
            "rate_limit_per_minute",
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


_WRITE_ERRORS = {
    400: OpenApiResponse(
        ErrorSerializer,
        description="validation_error, ssrf_blocked (blocked address class), wrong_project_type, unknown_field.",
    )
}


@extend_schema_view(
    create=extend_schema(
        summary="Register an upstream MCP server", responses={201: McpServerSerializer, **_WRITE_ERRORS}
    ),
    update=extend_schema(
        summary="Replace an MCP server", responses={200: McpServerSerializer, **_WRITE_ERRORS}
    ),
    partial_update=extend_schema(
        summary="Change an MCP server", responses={200: McpServerSerializer, **_WRITE_ERRORS}
    ),
)
class McpServerViewSet(ProjectScopedMixin, viewsets.ModelViewSet):
    """A project's upstream MCP servers. Viewers read; admins and owners write and test."""

    serializer_class = McpServerSerializer
    queryset = McpServer.objects.none()
    project_actions = {
        "create": "manage_endpoints",
        "update": "manage_endpoints",
        "partial_update": "manage_endpoints",
        "destroy": "manage_endpoints",
        "test": "manage_endpoints",
    }

    def get_queryset(self) -> QuerySet[McpServer]:
        if getattr(self, "swagger_fake_view", False):
            return McpServer.objects.none()
        return McpServer.objects.filter(project=self.get_project()).order_by("prefix", "id")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        project = self.get_project()
        ensure_mcp_gateway(project)
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        server = save_server(McpServer(project=project), serializer.validated_data)
        return Response(self.get_serializer(server).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        server = self.get_object()
        serializer = self.get_serializer(server, data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        return Response(self.get_serializer(save_server(server, serializer.validated_data)).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        with transaction.atomic():
            self.get_object().delete()
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, summary="Test the connection: list the upstream's tools now")
    @action(detail=True, methods=["post"])
    def test(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            return Response(test_connection(self.get_object()))
        except PromptGateError as exc:
            # Answered, not raised: a raised error rolls the request back, and the health record with it.
            return Response(error_body(exc.code, exc.message), status=exc.status)


router = SimpleRouter()
router.register(
    r"projects/(?P<project_uuid>[^/.]+)/mcp-servers", McpServerViewSet, basename="project-mcp-server"
)
urlpatterns = router.urls
