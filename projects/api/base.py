"""Shared plumbing of the management API: strict serializers, JSON parsing, error schema, base views.

`ProjectResourceViewSet` is the base of every resource nested under a project (as NetBox's
`NetBoxModelViewSet`): it resolves the project (404 when the caller cannot see it), keeps schema
generation away from the database, refuses the wrong project type before reading the body, and sends
create/update/destroy through the app's service (which validates, checks uniqueness and saves in a
transaction; the audit trail follows from the save). An app's viewset names its model, its order and
its service, and nothing else.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.db.models import Model, QuerySet
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser, JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.schemas.inspectors import ViewInspector

from projects.api.authentication import ApplicationUserOAuth2Authentication
from projects.api.permissions import ProjectRolePermission, SuperuserOnly, visible_project
from projects.models import Project
from promptgate.errors import ErrorCode, PromptGateError

if TYPE_CHECKING:
    from rest_framework.permissions import _PermissionClass

    # The mixin reads the serializer's `fields` and `instance`: typed as the serializer it is mixed into.
    _StrictBase = serializers.Serializer[Any]
    _ModelSerializerBase = serializers.ModelSerializer[Any]
else:
    _StrictBase = _ModelSerializerBase = object


class StrictFieldsMixin(_StrictBase):
    """Refuses unknown fields on write, and changes to fields fixed at creation.

    Read-only fields may be echoed back (a GET → PUT round trip works) and are ignored, except
    those named in `immutable_fields`: sent unchanged they are ignored, changed (or sent on create,
    where the server assigns them) they are refused with 400 `immutable_field` naming them.
    """

    immutable_fields: tuple[str, ...] = ()

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(str(name) for name in data if name not in self.fields)
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
            data = self._drop_unchanged_immutables(data)
        return super().to_internal_value(data)

    def _drop_unchanged_immutables(self, data: Mapping[str, Any]) -> dict[str, Any]:
        data = dict(data)
        refused: dict[str, list[str]] = {}
        for name in self.immutable_fields:
            if name not in data:
                continue
            if self.instance is None:
                if self.fields[name].read_only:
                    refused[name] = ["Assigned by the server; it cannot be set."]
                continue
            current = self.fields[name].to_representation(self.fields[name].get_attribute(self.instance))
            if str(data[name]) != str(current):
                refused[name] = ["This field cannot be changed."]
            else:
                del data[name]
        if refused:
            raise PromptGateError(
                "Immutable field", code=ErrorCode.IMMUTABLE_FIELD, status=400, fields=refused
            )
        return data


def _reject_nul(value: Any) -> bool:
    """True when a JSON value holds a NUL character anywhere (PostgreSQL cannot store it)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, Mapping):
        return any(_reject_nul(k) or _reject_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_reject_nul(v) for v in value)
    return False


class ProjectUniqueMixin(_ModelSerializerBase):
    """(project, field) uniqueness, checked here: the project is in the URL, not on the wire."""

    unique_field = ""

    def check_unique(self, attrs: dict[str, Any], message: str) -> None:
        project = self.context.get("project")
        value = attrs.get(self.unique_field)
        if project is None or value is None:
            return
        model: type[Model] = self.Meta.model
        rows = model._default_manager.filter(project=project, **{self.unique_field: value})
        if self.instance is not None:
            rows = rows.exclude(pk=self.instance.pk)
        if rows.exists():
            raise serializers.ValidationError({self.unique_field: [message]})


class JSONObjectField(serializers.DictField):
    """A free-form JSON object (documented as such), free of NUL characters."""

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        value = super().to_internal_value(data)
        if _reject_nul(value):
            raise serializers.ValidationError("Must not contain NUL characters.")
        return value


class ManagementJSONParser(JSONParser):
    """DRF's JSON parser with a body size cap (413) and 400 (not 500) for absurdly deep nesting."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        # DRF reads the raw stream, bypassing DATA_UPLOAD_MAX_MEMORY_SIZE: cap it here.
        limit = settings.PROMPTGATE_MAX_BODY_BYTES
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PromptGateError("Request body is too large", code=ErrorCode.PAYLOAD_TOO_LARGE, status=413)
        try:
            return super().parse(io.BytesIO(raw), media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - nested too deeply") from exc


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    # DRF's serializer metaclass takes declared fields out of the class body, so this does not shadow
    # Serializer.fields at run time; the stubs see a class attribute of another type.
    fields = serializers.DictField(  # type: ignore[assignment]
        required=False, help_text="Field name → list of messages."
    )


class ErrorSerializer(serializers.Serializer):
    """The PromptGate error shape, `{"error": {"code", "message", "fields"?}}`."""

    error = ErrorDetailSerializer()


PROJECT_UUID = OpenApiParameter(
    "project_uuid", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The project's uuid."
)

_ERRORS = {
    "400": "Malformed JSON, invalid input, unknown or immutable fields (code names which).",
    "401": "Not authenticated.",
    "403": "Authenticated, but the caller's role in the project does not allow this.",
    "404": "Unknown id, malformed id, or a project the caller cannot see.",
}


class ManagementSchema(AutoSchema):
    """Adds what every operation shares: the project path parameter and the documented errors."""

    def get_override_parameters(self) -> list[Any]:
        params = list(super().get_override_parameters())
        if "{project_uuid}" in self.path:
            params.append(PROJECT_UUID)
        return params

    def get_tags(self) -> list[str]:
        # Nested resources get their own tag (tokens, members), not their parent's.
        tokens = self._tokenize_path()
        if "{project_uuid}" in self.path and len(tokens) > 1:
            return [tokens[1]]
        return super().get_tags()

    def _map_basic_serializer(self, serializer: Any, direction: Any) -> dict[str, Any]:
        # The schema tells the truth: a strict serializer refuses unknown fields (400), so its request
        # body admits no additional properties (schemathesis then generates none it would refuse).
        mapped = super()._map_basic_serializer(serializer, direction)
        if direction == "request" and isinstance(serializer, StrictFieldsMixin):
            mapped["additionalProperties"] = False
        return mapped

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        errors = dict(_ERRORS)
        if self.method in ("POST", "PUT", "PATCH"):
            errors["413"] = "Request body too large."
        for code, description in errors.items():
            if code not in responses:
                response = OpenApiResponse(ErrorSerializer, description=description)
                responses[code] = self._get_response_for_code(response, code, direction=direction)
        return responses


class ManagementViewMixin:
    """Authentication, permissions, parsing and schema shared by every management API view."""

    # Typed as APIView types them, so the views that mix this in agree with DRF's base.
    authentication_classes: Sequence[type[BaseAuthentication]] = [
        ApplicationUserOAuth2Authentication,
        SessionAuthentication,
    ]
    permission_classes: Sequence[_PermissionClass] = [ProjectRolePermission]
    parser_classes: Sequence[type[BaseParser]] = [ManagementJSONParser]
    schema: ViewInspector | None = ManagementSchema()
    # DRF action → projects.roles action it needs; unlisted actions need "view".
    project_actions: dict[str, str] = {}


class GlobalViewMixin(ManagementViewMixin):
    """The base of global (not per-project) resources: superusers alone manage them."""

    permission_classes: Sequence[_PermissionClass] = [SuperuserOnly]


def documented_writes(
    serializer: Any,
    errors: Mapping[int, str],
    summaries: Mapping[str, str] | None = None,
    parameters: list[OpenApiParameter] | None = None,
    **views: Any,
) -> Any:
    """The OpenAPI view of a resource's writes: create answers 201 and update 200 with the resource, or
    the documented refusals (`errors`: status → the codes it carries). `views` documents other actions."""
    refusals = {status: OpenApiResponse(ErrorSerializer, description=text) for status, text in errors.items()}
    named = summaries or {}

    def write(action: str, status: int, **extra: Any) -> Any:
        if action in named:
            extra["summary"] = named[action]
        return extend_schema(responses={status: serializer, **refusals}, **extra)

    updates = {"parameters": parameters} if parameters else {}
    return extend_schema_view(
        create=write("create", 201),
        update=write("update", 200, **updates),
        partial_update=write("partial_update", 200, **updates),
        **views,
    )


# The writes of a project resource; reads need only "view", the role the base grants every member.
WRITE_ACTIONS = ("create", "update", "partial_update", "destroy")


def manage_actions(*extra: str, role_action: str = "manage_endpoints") -> dict[str, str]:
    """`project_actions` for a resource whose writes (and `extra` actions) need one project role."""
    return {name: role_action for name in (*WRITE_ACTIONS, *extra)}


def schema_generation(view: Any) -> bool:
    """True while drf-spectacular builds the OpenAPI schema: no request user, no project in the path."""
    return bool(getattr(view, "swagger_fake_view", False))


class ProjectScopedMixin(ManagementViewMixin):
    """A resource nested under projects/{project_uuid}/: the project is resolved first, or 404."""

    def get_project(self) -> Project:
        if not hasattr(self, "_project"):
            self._project = visible_project(self.request.user, self.kwargs["project_uuid"])  # type: ignore[attr-defined]  # a mixin of GenericViewSet
        return self._project


class ServiceWritesMixin:
    """create/update/destroy through the app's service: `save_resource` and `delete_resource`.

    The service validates as the model does, checks uniqueness (a racing duplicate answers as a
    sequential one) and saves in its own transaction; destroy runs in one too.
    """

    def new_resource(self) -> Model:
        """The unsaved instance a create fills in."""
        raise NotImplementedError

    def save_resource(self, instance: Any, changes: dict[str, Any]) -> Any:
        """Apply the validated wire `changes` to `instance` and save it (the app's service)."""
        raise NotImplementedError

    def delete_resource(self, instance: Any) -> None:
        instance.delete()

    def perform_create(self, serializer: Any) -> None:
        serializer.instance = self.save_resource(self.new_resource(), dict(serializer.validated_data))

    def perform_update(self, serializer: Any) -> None:
        serializer.instance = self.save_resource(serializer.instance, dict(serializer.validated_data))

    def perform_destroy(self, instance: Any) -> None:
        with transaction.atomic():
            self.delete_resource(instance)


class ProjectResourceViewSet(ServiceWritesMixin, ProjectScopedMixin, viewsets.ModelViewSet):
    """A project's resources of one `model`, ordered by `ordering`; viewers read, `project_actions` write."""

    model: type[Model]
    ordering: tuple[str, ...] = ("id",)
    project_actions = manage_actions()

    def check_project(self, project: Project) -> None:
        """Refuse a project this resource cannot belong to (before the body is read); default: any."""

    def scoped(self, project: Project) -> QuerySet[Any]:
        return self.model._default_manager.filter(project=project)

    def get_queryset(self) -> QuerySet[Any]:
        if schema_generation(self):
            return self.model._default_manager.none()
        return self.scoped(self.get_project()).order_by(*self.ordering)

    def get_serializer_context(self) -> dict[str, Any]:
        context = dict(super().get_serializer_context())
        if not schema_generation(self) and "project_uuid" in self.kwargs:
            context["project"] = self.get_project()
        return context

    def new_resource(self) -> Model:
        return self.model(project=self.get_project())

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self.check_project(self.get_project())
        return super().create(request, *args, **kwargs)
