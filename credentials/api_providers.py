"""Management API of provider routing: credentials, templates and settings (global, superusers) and,
per AI project, provider assignments and model aliases."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.db.models import ProtectedError, QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view, inline_serializer
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from credentials.api_provider_serializers import (
    AliasSerializer,
    AssignmentSerializer,
    CredentialSerializer,
    SettingSerializer,
    TemplateSerializer,
)
from credentials.models import Credential, ProviderAssignment, ProviderSetting, ProviderTemplate
from gateways.ai import services as ai_services
from gateways.ai.models import ModelAlias
from projects.api.base import ErrorSerializer, ManagementViewMixin, ProjectResourceViewSet
from projects.models import Project
from projects.project_types import PROJECT_TYPES, Resource
from projects.services import require_project_type
from promptgate.errors import ErrorCode, PromptGateError

if TYPE_CHECKING:
    from rest_framework.permissions import _PermissionClass


class SuperuserOnly(BasePermission):
    """Global resources (credentials, templates, provider settings) belong to superusers alone."""

    message = "Only superusers manage global provider resources"

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_superuser)


class GlobalViewMixin(ManagementViewMixin):
    permission_classes: Sequence[_PermissionClass] = [SuperuserOnly]


_CHECK = inline_serializer(
    "ProviderConnectionCheck",
    {
        "ok": serializers.BooleanField(),
        "status": serializers.IntegerField(allow_null=True, help_text="The provider's HTTP status."),
        "message": serializers.CharField(),
        "latency_ms": serializers.IntegerField(),
    },
)
_IN_USE = OpenApiResponse(ErrorSerializer, description="credential_in_use: assigned to projects.")


@extend_schema_view(destroy=extend_schema(responses={204: None, 409: _IN_USE}))
class CredentialViewSet(GlobalViewMixin, viewsets.ModelViewSet):
    """Provider API keys: write-only, shown as a masked hint, validated per provider."""

    serializer_class = CredentialSerializer
    queryset = Credential.objects.order_by("provider", "name", "id")
    filterset_fields = ["provider"]

    def perform_destroy(self, instance: Credential) -> None:
        try:
            instance.delete()
        except ProtectedError as exc:
            raise PromptGateError(
                "This credential is assigned to projects; reassign them first",
                code=ErrorCode.CREDENTIAL_IN_USE,
                status=409,
            ) from exc

    @extend_schema(
        request=None, responses=_CHECK, summary="Test the connection (lists the provider's models)"
    )
    @action(detail=True, methods=["post"])
    def test(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        check = ai_services.check_connection(self.get_object())
        return Response(
            {"ok": check.ok, "status": check.status, "message": check.message, "latency_ms": check.latency_ms}
        )


class TemplateViewSet(GlobalViewMixin, viewsets.ModelViewSet):
    """Named provider + model + default parameters, callable as `model` by their name."""

    serializer_class = TemplateSerializer
    queryset = ProviderTemplate.objects.order_by("name", "id")
    filterset_fields = ["provider", "enabled"]


class SettingViewSet(GlobalViewMixin, viewsets.ModelViewSet):
    """A provider enabled or disabled everywhere (no row: enabled)."""

    serializer_class = SettingSerializer
    queryset = ProviderSetting.objects.order_by("provider", "id")


def ensure_ai_project(project: Project) -> None:
    require_project_type(project, PROJECT_TYPES[Resource.PROVIDER_ASSIGNMENT], "Provider routing belongs to")


class AIRoutingViewSet(ProjectResourceViewSet):
    """Provider routing of an AI project: writes need the project's admin role and an AI project type
    (checked once the body is valid, as the serializer saves)."""

    def perform_create(self, serializer: Any) -> None:
        ensure_ai_project(self.get_project())
        serializer.save(project=self.get_project())

    def perform_update(self, serializer: Any) -> None:
        ensure_ai_project(self.get_project())
        serializer.save()


_WRONG_TYPE = OpenApiResponse(ErrorSerializer, description="wrong_project_type: not an AI project.")
_WRITES: dict[str, Any] = {"responses": {400: _WRONG_TYPE}}


@extend_schema_view(create=extend_schema(**_WRITES), update=extend_schema(**_WRITES))
class AssignmentViewSet(AIRoutingViewSet):
    """Which credential each provider's calls use in this project."""

    model = ProviderAssignment
    ordering = ("provider", "id")
    serializer_class = AssignmentSerializer
    queryset = ProviderAssignment.objects.none()

    def scoped(self, project: Project) -> QuerySet[ProviderAssignment]:
        return ProviderAssignment.objects.filter(project=project).select_related("credential")


@extend_schema_view(create=extend_schema(**_WRITES), update=extend_schema(**_WRITES))
class AliasViewSet(AIRoutingViewSet):
    """Short model names: `fast` → `openai:gpt-4o-mini` or a template name."""

    model = ModelAlias
    ordering = ("alias", "id")
    serializer_class = AliasSerializer
    queryset = ModelAlias.objects.none()


router = SimpleRouter()
router.register("credentials", CredentialViewSet, basename="credential")
router.register("provider-templates", TemplateViewSet, basename="provider-template")
router.register("provider-settings", SettingViewSet, basename="provider-setting")
router.register(
    r"projects/(?P<project_uuid>[^/.]+)/provider-assignments",
    AssignmentViewSet,
    basename="project-provider-assignment",
)
router.register(r"projects/(?P<project_uuid>[^/.]+)/aliases", AliasViewSet, basename="project-alias")
urlpatterns: list[Any] = [*router.urls]
