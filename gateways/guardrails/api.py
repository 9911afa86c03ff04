"""Management API of guardrail rules: /manage/api/v1/guardrails/ (global, superusers) and
/manage/api/v1/projects/{uuid}/guardrails/ (project and endpoint level) with `effective/?endpoint=`."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from gateways.guardrails.models import RULE_FIELDS, GuardrailRule, Kind
from gateways.guardrails.resolution import resolve_guardrails
from gateways.guardrails.services import delete_rule, save_rule
from projects.api.base import (
    GlobalViewMixin,
    JSONObjectField,
    ProjectResourceViewSet,
    ServiceWritesMixin,
    StrictFieldsMixin,
    documented_writes,
)
from projects.models import Project


class GuardrailRuleSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    kind = serializers.ChoiceField(
        choices=Kind.choices,
        required=False,
        help_text="Required, except when overriding a wider rule of the same name (its kind is kept).",
    )
    config = JSONObjectField(required=False, help_text="Per kind; see the README's Guardrails section.")
    level = serializers.CharField(read_only=True)

    class Meta:
        model = GuardrailRule
        fields = [
            "id",
            "name",
            "level",
            "endpoint",
            *RULE_FIELDS,
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "level", "created_at", "updated_at"]
        validators: list[Any] = []  # uniqueness per level is checked on save


class GlobalGuardrailSerializer(GuardrailRuleSerializer):
    class Meta(GuardrailRuleSerializer.Meta):
        fields = [f for f in GuardrailRuleSerializer.Meta.fields if f != "endpoint"]


_WRITE_ERRORS = {
    400: "validation_error (fields name the problems).",
    409: "guardrail_locked: a wider rule of this name is locked.",
}
_EFFECTIVE = inline_serializer(
    "EffectiveGuardrail",
    {
        "id": serializers.IntegerField(),
        "name": serializers.CharField(),
        "kind": serializers.CharField(),
        "stage": serializers.CharField(),
        "action": serializers.CharField(),
        "config": serializers.DictField(),
        "enabled": serializers.BooleanField(),
        "locked": serializers.BooleanField(),
        "description": serializers.CharField(),
        "level": serializers.CharField(help_text="global, project or endpoint: where the rule comes from."),
        "endpoint": serializers.CharField(),
        "overrides": serializers.ListField(child=serializers.CharField(), help_text="Wider levels replaced."),
    },
)
_EFFECTIVE_LIST = inline_serializer(
    "EffectiveGuardrails",
    {"endpoint": serializers.CharField(), "results": _EFFECTIVE.__class__(many=True)},
)


class _RuleWrites(ServiceWritesMixin):
    """create/update/destroy through services.save_rule (validation, locks, overrides)."""

    def save_resource(self, instance: GuardrailRule, changes: dict[str, Any]) -> GuardrailRule:
        return save_rule(instance, changes)

    def delete_resource(self, instance: GuardrailRule) -> None:
        delete_rule(instance)


@documented_writes(GlobalGuardrailSerializer, _WRITE_ERRORS)
class GlobalGuardrailViewSet(_RuleWrites, GlobalViewMixin, viewsets.ModelViewSet):
    """Global rules: apply to every project; superusers only."""

    serializer_class = GlobalGuardrailSerializer
    queryset = GuardrailRule.objects.filter(project__isnull=True).order_by("name", "id")
    filterset_fields = ["kind", "enabled"]

    def new_resource(self) -> GuardrailRule:
        return GuardrailRule(project=None)


@documented_writes(GuardrailRuleSerializer, _WRITE_ERRORS)
class ProjectGuardrailViewSet(_RuleWrites, ProjectResourceViewSet):
    """A project's rules (`endpoint` empty) and its endpoints' rules. Viewers read; admins write."""

    model = GuardrailRule
    ordering = ("endpoint", "name", "id")
    serializer_class = GuardrailRuleSerializer
    queryset = GuardrailRule.objects.none()

    def scoped(self, project: Project) -> QuerySet[GuardrailRule]:
        rows = GuardrailRule.objects.filter(project=project)
        endpoint = self.request.query_params.get("endpoint")
        return rows if endpoint is None else rows.filter(endpoint=endpoint)

    @extend_schema(
        summary="The resolved rules (global → project → endpoint), each with the level it comes from",
        parameters=[OpenApiParameter("endpoint", str, description="An endpoint slug or MCP server prefix.")],
        responses={200: _EFFECTIVE_LIST},
    )
    @action(detail=False, methods=["get"])
    def effective(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        project = self.get_project()
        endpoint = request.query_params.get("endpoint", "")
        rules = resolve_guardrails(project.pk, endpoint)
        return Response({"endpoint": endpoint, "results": [r.as_dict() for r in rules]})


router = SimpleRouter()
router.register(r"guardrails", GlobalGuardrailViewSet, basename="global-guardrail")
router.register(
    r"projects/(?P<project_uuid>[^/.]+)/guardrails", ProjectGuardrailViewSet, basename="project-guardrail"
)
urlpatterns = router.urls
