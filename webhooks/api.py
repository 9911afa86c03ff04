"""Management API for webhooks: /manage/api/v1/projects/{uuid}/webhooks/ (project admins) and
/manage/api/v1/webhooks/ (global, superusers). Create answers the signing secret once, as `secret`;
afterwards it is masked. Actions: rotate-secret, test, deliveries, redeliver one, redeliver-failed.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view, inline_serializer
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from credentials.api_providers import GlobalViewMixin
from projects.api.base import ErrorSerializer, StrictFieldsMixin
from projects.api.views import ProjectScopedMixin
from promptgate.errors import PromptGateError
from webhooks import delivery as deliveries
from webhooks import services, signing
from webhooks.catalogue import EVENT_TYPES
from webhooks.models import Delivery, DeliveryAttempt, Webhook


class WebhookSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    url = serializers.CharField(max_length=2000, help_text="Where events are POSTed (http or https).")
    events = serializers.ListField(
        child=serializers.CharField(max_length=60),
        min_length=1,
        max_length=len(EVENT_TYPES) + 1,
        help_text=f'Event types, or ["*"] for all: {", ".join(EVENT_TYPES)}.',
    )
    secret = serializers.SerializerMethodField(
        help_text="The signing secret: in full only in the create and rotate-secret answers, masked after."
    )

    class Meta:
        model = Webhook
        fields = [
            "id",
            "url",
            "events",
            "enabled",
            "description",
            "secret",
            "previous_secret_expires_at",
            "failing_since",
            "disabled_reason",
            "disabled_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "id",
            "previous_secret_expires_at",
            "failing_since",
            "disabled_reason",
            "disabled_at",
            "created_at",
            "updated_at",
        ]

    def get_secret(self, obj: Webhook) -> str:
        shown = self.context.get("show_secret")
        return shown if shown else signing.mask(obj.secret)


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeliveryAttempt
        fields = ["id", "attempted_at", "status_code", "error", "latency_ms", "response_excerpt", "succeeded"]


class DeliverySerializer(serializers.ModelSerializer):
    event_type = serializers.CharField(source="event.type", read_only=True)
    webhook_id = serializers.CharField(source="event_id", read_only=True, help_text="The webhook-id header.")
    payload = serializers.JSONField(source="event.payload", read_only=True)
    attempts = AttemptSerializer(many=True, read_only=True)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "webhook_id",
            "event_type",
            "status",
            "attempt_count",
            "next_attempt_at",
            "last_status_code",
            "created_at",
            "payload",
            "attempts",
        ]


class RedeliverFailedSerializer(serializers.Serializer):
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["since"] >= attrs["until"]:
            raise serializers.ValidationError({"until": ["Must be after since."]})
        return attrs


_REDELIVERED = inline_serializer("WebhookRedelivered", {"redelivered": serializers.IntegerField()})
_WRITE_ERRORS = {400: OpenApiResponse(ErrorSerializer, description="validation_error, ssrf_blocked.")}


@extend_schema_view(
    create=extend_schema(
        summary="Create a webhook (the answer holds its signing secret, this once)",
        responses={201: WebhookSerializer, **_WRITE_ERRORS},
    ),
    update=extend_schema(responses={200: WebhookSerializer, **_WRITE_ERRORS}),
    partial_update=extend_schema(responses={200: WebhookSerializer, **_WRITE_ERRORS}),
)
class _WebhookViewSet(viewsets.ModelViewSet):
    serializer_class = WebhookSerializer
    queryset = Webhook.objects.none()

    def owner(self) -> Any:
        raise NotImplementedError

    def get_queryset(self) -> QuerySet[Webhook]:
        if getattr(self, "swagger_fake_view", False):
            return Webhook.objects.none()
        return Webhook.objects.filter(project=self.owner()).order_by("id")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        webhook, secret = services.create_webhook(self.owner(), **serializer.validated_data)
        data = self.get_serializer(webhook, context={**self.get_serializer_context(), "show_secret": secret})
        return Response(data.data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        webhook = self.get_object()
        serializer = self.get_serializer(webhook, data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        return Response(self.get_serializer(services.update_webhook(webhook, serializer.validated_data)).data)

    @extend_schema(request=None, summary="New signing secret; the old one keeps signing for 24 hours")
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        webhook, secret = services.rotate_secret(self.get_object())
        context = {**self.get_serializer_context(), "show_secret": secret}
        return Response(self.get_serializer(webhook, context=context).data)

    @extend_schema(request=None, responses={200: AttemptSerializer}, summary="Send webhook.test now")
    @action(detail=True, methods=["post"])
    def test(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            attempt = services.send_test(self.get_object())
        except PromptGateError as exc:
            return Response({"error": {"code": exc.code, "message": exc.message}}, status=exc.status)
        return Response(AttemptSerializer(attempt).data)

    @extend_schema(responses={200: DeliverySerializer(many=True)}, summary="Deliveries, newest first")
    @action(detail=True, methods=["get"])
    def deliveries(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        webhook = self.get_object()
        rows = (
            webhook.deliveries.select_related("event")
            .prefetch_related(Prefetch("attempts", DeliveryAttempt.objects.order_by("attempted_at", "id")))
            .order_by("-created_at", "-id")
        )
        wanted = request.query_params.get("status")
        if wanted:
            rows = rows.filter(status=wanted)
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(DeliverySerializer(page, many=True).data)

    @extend_schema(request=None, responses={200: DeliverySerializer}, summary="Send one delivery again")
    @action(detail=True, methods=["post"], url_path=r"deliveries/(?P<delivery_id>[0-9]+)/redeliver")
    def redeliver(self, request: Request, *args: Any, delivery_id: str, **kwargs: Any) -> Response:
        webhook = self.get_object()
        item = webhook.deliveries.select_related("event").filter(pk=int(delivery_id)).first()
        if item is None:
            raise NotFound("Delivery not found")
        if not webhook.enabled:
            raise PromptGateError("The webhook is disabled", code="webhook_disabled", status=409)
        return Response(DeliverySerializer(deliveries.redeliver(item)).data)

    @extend_schema(
        request=RedeliverFailedSerializer,
        responses={200: _REDELIVERED},
        summary="Send again every failed delivery created in [since, until)",
    )
    @action(detail=True, methods=["post"], url_path="redeliver-failed")
    def redeliver_failed(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        webhook = self.get_object()
        if not webhook.enabled:
            raise PromptGateError("The webhook is disabled", code="webhook_disabled", status=409)
        window = RedeliverFailedSerializer(data=request.data)
        window.is_valid(raise_exception=True)
        count = deliveries.redeliver_failed(
            webhook, window.validated_data["since"], window.validated_data["until"]
        )
        return Response({"redelivered": count})


_ADMIN_ACTIONS = ("create", "update", "partial_update", "destroy", "rotate_secret", "test")


class ProjectWebhookViewSet(ProjectScopedMixin, _WebhookViewSet):
    """A project's webhooks. Project admins and owners manage them; viewers cannot see them."""

    project_actions = {
        **{name: "manage_endpoints" for name in _ADMIN_ACTIONS},
        "list": "manage_endpoints",
        "retrieve": "manage_endpoints",
        "deliveries": "manage_endpoints",
        "redeliver": "manage_endpoints",
        "redeliver_failed": "manage_endpoints",
    }

    def owner(self) -> Any:
        return self.get_project()


class GlobalWebhookViewSet(GlobalViewMixin, _WebhookViewSet):
    """Global webhooks (superusers): every project's events and system events."""

    def owner(self) -> Any:
        return None


router = SimpleRouter()
router.register(
    r"projects/(?P<project_uuid>[^/.]+)/webhooks", ProjectWebhookViewSet, basename="project-webhook"
)
router.register(r"webhooks", GlobalWebhookViewSet, basename="webhook")
urlpatterns = router.urls
