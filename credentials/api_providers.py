"""Management API of the global provider resources: credentials, templates and settings (superusers).
A project's provider assignments and model aliases are the AI gateway's (gateways/ai/api.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import ProtectedError
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view, inline_serializer
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from credentials.api_provider_serializers import (
    CredentialSerializer,
    SettingSerializer,
    TemplateSerializer,
)
from credentials.models import Credential, ProviderSetting, ProviderTemplate
from gateways.ai import services as ai_services
from projects.api.base import ErrorSerializer, GlobalViewMixin
from promptgate.errors import ErrorCode, PromptGateError

if TYPE_CHECKING:
    pass


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


router = SimpleRouter()
router.register("credentials", CredentialViewSet, basename="credential")
router.register("provider-templates", TemplateViewSet, basename="provider-template")
router.register("provider-settings", SettingViewSet, basename="provider-setting")
urlpatterns: list[Any] = [*router.urls]
