"""Management API of OAuth connections: /manage/api/v1/projects/{uuid}/oauth-connections/ and its actions."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from credentials.models import FLOW_FIELDS, OAuthConnection
from credentials.oauth import flow, presets, services
from projects.api.base import JSONObjectField, ProjectResourceViewSet, StrictFieldsMixin, manage_actions


class OAuthConnectionSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """A connection as read and written: the client secret is write-only, tokens never leave."""

    immutable_fields = ("provider",)

    provider = serializers.ChoiceField(choices=presets.PROVIDER_CHOICES)
    client_secret = serializers.CharField(write_only=True, required=False, allow_blank=False, max_length=2000)
    scopes = serializers.ListField(child=serializers.CharField(max_length=200), required=False)
    auth_method = serializers.ChoiceField(choices=presets.AUTH_METHODS, required=False)
    options = JSONObjectField(required=False, help_text='Provider options; Microsoft: {"tenant": "..."}.')
    has_refresh_token = serializers.SerializerMethodField()

    class Meta:
        model = OAuthConnection
        fields = [
            "id",
            *services.WRITABLE_FIELDS,
            "status",
            "scopes_granted",
            "token_type",
            "expires_at",
            "has_refresh_token",
            "last_refreshed_at",
            "last_error",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", *FLOW_FIELDS, "created_at", "updated_at"]

    def get_has_refresh_token(self, obj: OAuthConnection) -> bool:
        return bool(obj.refresh_token)


_AUTHORIZE = inline_serializer("OAuthAuthorize", {"authorize_url": serializers.URLField()})


class OAuthConnectionViewSet(ProjectResourceViewSet):
    """A project's OAuth service connections (api_gateway projects)."""

    model = OAuthConnection
    ordering = ("name", "id")
    serializer_class = OAuthConnectionSerializer
    queryset = OAuthConnection.objects.none()
    project_actions = manage_actions("authorize", "refresh", "disconnect")

    def save_resource(self, instance: OAuthConnection, changes: dict[str, Any]) -> OAuthConnection:
        try:
            return services.save_connection(instance, changes)
        except DjangoValidationError as exc:
            # As a serializer error: the exception handler then answers a refused URL as ssrf_blocked.
            raise serializers.ValidationError(exc.message_dict) from exc

    @extend_schema(request=None, responses=_AUTHORIZE, summary="Start the authorization: the provider URL")
    @action(detail=True, methods=["post"])
    def authorize(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        url = flow.authorize_url(
            self.get_object(), request.user, request.build_absolute_uri(flow.CALLBACK_PATH)
        )
        return Response({"authorize_url": url})

    @extend_schema(request=None, responses=OAuthConnectionSerializer, summary="Refresh the access token now")
    @action(detail=True, methods=["post"])
    def refresh(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(self.get_serializer(services.refresh_now(self.get_object())).data)

    @extend_schema(
        request=None, responses=OAuthConnectionSerializer, summary="Revoke at the provider, forget tokens"
    )
    @action(detail=True, methods=["post"])
    def disconnect(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        conn = self.get_object()
        services.disconnect(conn)
        return Response(self.get_serializer(conn).data, status=status.HTTP_200_OK)


router = SimpleRouter()
router.register(
    r"projects/(?P<project_uuid>[^/.]+)/oauth-connections",
    OAuthConnectionViewSet,
    basename="project-oauth-connection",
)
urlpatterns: list[Any] = [*router.urls]
