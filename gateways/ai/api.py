"""Management API of an AI project: its AI endpoints and their sessions, its provider routing (which
credential each provider's calls use) and model aliases (/manage/api/v1/projects/{uuid}/ai-endpoints/,
/sessions/, /provider-assignments/, /aliases/)."""

from __future__ import annotations

import re
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from credentials import providers
from credentials.models import Credential, ProviderAssignment, ProviderTemplate
from gateways.ai import services
from gateways.ai.models import ENDPOINT_FIELDS, AIEndpoint, ModelAlias, Session
from gateways.ai.providers.registry import PROVIDER_CHOICES, split_model
from projects.api.base import (
    ErrorSerializer,
    ProjectResourceViewSet,
    ProjectScopedMixin,
    ProjectUniqueMixin,
    StrictFieldsMixin,
    documented_writes,
    schema_generation,
)
from projects.models import Project
from projects.project_types import PROJECT_TYPES, Resource
from projects.services import require_project_type
from promptgate.errors import ErrorCode, PromptGateError


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


ALIAS_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/\-]{0,99}")


class AssignmentSerializer(ProjectUniqueMixin, StrictFieldsMixin, serializers.ModelSerializer):
    """provider → credential for one project; the credential must be one of that provider's."""

    immutable_fields = ("provider",)
    unique_field = "provider"

    provider = serializers.ChoiceField(choices=PROVIDER_CHOICES)
    credential = serializers.PrimaryKeyRelatedField(queryset=Credential.objects.all())
    credential_name = serializers.CharField(source="credential.name", read_only=True)

    class Meta:
        model = ProviderAssignment
        fields = ["id", "provider", "credential", "credential_name", "created_at"]
        read_only_fields = ["id", "credential_name", "created_at"]
        validators: list[Any] = []

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        instance: ProviderAssignment | None = self.instance
        provider = attrs.get("provider") or (instance.provider if instance else "")
        credential = attrs.get("credential") or (instance.credential if instance else None)
        message = providers.assignment_error(provider, credential) if credential is not None else None
        if message:
            raise PromptGateError(
                message,
                code=ErrorCode.CREDENTIAL_PROVIDER_MISMATCH,
                status=400,
                fields={"credential": [message]},
            )
        self.check_unique(attrs, "This project already has an assignment for this provider.")
        return attrs


class AliasSerializer(ProjectUniqueMixin, StrictFieldsMixin, serializers.ModelSerializer):
    """`alias` → `provider:model` or a template name."""

    unique_field = "alias"

    class Meta:
        model = ModelAlias
        fields = ["id", "alias", "target", "created_at"]
        read_only_fields = ["id", "created_at"]
        validators: list[Any] = []

    def validate_alias(self, value: str) -> str:
        if not ALIAS_PATTERN.fullmatch(value):
            raise serializers.ValidationError(
                "Letters, digits and . _ - : / only; starting with a letter or digit."
            )
        if split_model(value) is not None:
            raise serializers.ValidationError("An alias cannot have the form provider:model.")
        return value

    def validate_target(self, value: str) -> str:
        if split_model(value) is not None:
            return value
        if ProviderTemplate.objects.filter(name=value).exists():
            return value
        raise serializers.ValidationError(
            "Unknown target: use provider:model with a known provider, or a template name."
        )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        self.check_unique(attrs, "This project already has this alias.")
        return attrs


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


def _ensure_routing_project(project: Project) -> None:
    require_project_type(project, PROJECT_TYPES[Resource.PROVIDER_ASSIGNMENT], "Provider routing belongs to")


class AIRoutingViewSet(ProjectResourceViewSet):
    """Provider routing of an AI project: writes need the project's admin role and an AI project type
    (checked once the body is valid, as the serializer saves)."""

    def perform_create(self, serializer: Any) -> None:
        _ensure_routing_project(self.get_project())
        serializer.save(project=self.get_project())

    def perform_update(self, serializer: Any) -> None:
        _ensure_routing_project(self.get_project())
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
router.register(
    r"projects/(?P<project_uuid>[^/.]+)/ai-endpoints", AIEndpointViewSet, basename="project-ai-endpoint"
)
router.register(r"projects/(?P<project_uuid>[^/.]+)/sessions", SessionViewSet, basename="project-ai-session")
router.register(
    r"projects/(?P<project_uuid>[^/.]+)/provider-assignments",
    AssignmentViewSet,
    basename="project-provider-assignment",
)
router.register(r"projects/(?P<project_uuid>[^/.]+)/aliases", AliasViewSet, basename="project-alias")
urlpatterns = router.urls
