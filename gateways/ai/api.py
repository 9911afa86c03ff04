"""Management API for AI endpoints and their sessions (/manage/api/v1/projects/{uuid}/ai-endpoints/, /sessions/)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from gateways.ai import services
from gateways.ai.models import ENDPOINT_FIELDS, AIEndpoint, Session
from projects.api.base import (
    ProjectResourceViewSet,
    ProjectScopedMixin,
    StrictFieldsMixin,
    documented_writes,
    schema_generation,
)
from projects.models import Project


class AIEndpointSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    chain = serializers.JSONField(
        help_text='[{"provider", "model"} | {"template"} | {"alias"}], primary first.'
    )
    variables = serializers.JSONField(
        required=False, help_text="[{name, type, required, default, description}]"
    )
    output_schema = serializers.JSONField(required=False, allow_null=True)
    parameters = serializers.JSONField(required=False)
    daily_budget = serializers.DecimalField(
        max_digits=12, decimal_places=4, min_value=0, required=False, allow_null=True
    )

    class Meta:
        model = AIEndpoint
        fields = ["id", *ENDPOINT_FIELDS, "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
        validators: list[Any] = []  # slug uniqueness per project is checked on save


class SessionSerializer(serializers.ModelSerializer):
    endpoint: serializers.SlugRelatedField[AIEndpoint] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )
    session_id = serializers.CharField(source="key", read_only=True)
    message_count = serializers.SerializerMethodField()
    expired = serializers.SerializerMethodField()

    class Meta:
        model = Session
        fields = [
            "id",
            "session_id",
            "endpoint",
            "messages",
            "message_count",
            "created_at",
            "updated_at",
            "expires_at",
            "expired",
        ]
        read_only_fields = fields

    def get_message_count(self, obj: Session) -> int:
        return len(obj.messages or [])

    def get_expired(self, obj: Session) -> bool:
        return obj.expires_at <= timezone.now()


@documented_writes(
    AIEndpointSerializer,
    {400: "validation_error, wrong_project_type, unknown_field, immutable_field."},
    {
        "create": "Create an AI endpoint",
        "update": "Replace an AI endpoint",
        "partial_update": "Change an AI endpoint",
    },
)
class AIEndpointViewSet(ProjectResourceViewSet):
    """A project's AI endpoints. Viewers read; admins and owners write."""

    model = AIEndpoint
    ordering = ("slug", "id")
    serializer_class = AIEndpointSerializer
    queryset = AIEndpoint.objects.none()

    def check_project(self, project: Project) -> None:
        services.ensure_ai_project(project)

    def save_resource(self, instance: AIEndpoint, changes: dict[str, Any]) -> AIEndpoint:
        return services.save_endpoint(instance, changes)


@extend_schema_view(
    list=extend_schema(summary="List AI endpoint sessions (?endpoint=<slug> to filter)"),
    destroy=extend_schema(summary="Delete a session (its conversation is forgotten)"),
)
class SessionViewSet(
    ProjectScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Conversations held by the project's AI endpoints. Developers and above read them (they hold user
    content, like request logs); admins and owners delete them."""

    serializer_class = SessionSerializer
    queryset = Session.objects.none()
    project_actions = {
        "list": "read_logs",
        "retrieve": "read_logs",
        "destroy": "manage_endpoints",
    }

    def get_queryset(self) -> QuerySet[Session]:
        if schema_generation(self):
            return Session.objects.none()
        rows = Session.objects.filter(endpoint__project=self.get_project()).select_related("endpoint")
        slug = self.request.query_params.get("endpoint")
        if slug:
            rows = rows.filter(endpoint__slug=slug)
        return rows.order_by("-updated_at", "-id")

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        with transaction.atomic():
            self.get_object().delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


router = SimpleRouter()
router.register(
    r"projects/(?P<project_uuid>[^/.]+)/ai-endpoints", AIEndpointViewSet, basename="project-ai-endpoint"
)
router.register(r"projects/(?P<project_uuid>[^/.]+)/sessions", SessionViewSet, basename="project-ai-session")
urlpatterns = router.urls
