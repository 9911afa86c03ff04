"""Shared plumbing of the management API: strict serializers, JSON parsing, error schema, base view."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from projects.api.authentication import ApplicationUserOAuth2Authentication
from projects.api.permissions import ProjectRolePermission
from promptgate.errors import PromptGateError


class StrictFieldsMixin:
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
            raise PromptGateError("Immutable field", code="immutable_field", status=400, fields=refused)
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
            raise PromptGateError("Request body is too large", code="payload_too_large", status=413)
        try:
            return super().parse(io.BytesIO(raw), media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - nested too deeply") from exc


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(required=False, help_text="Field name → list of messages.")


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

    authentication_classes = [ApplicationUserOAuth2Authentication, SessionAuthentication]
    permission_classes = [ProjectRolePermission]
    parser_classes = [ManagementJSONParser]
    schema = ManagementSchema()
    # DRF action → projects.roles action it needs; unlisted actions need "view".
    project_actions: dict[str, str] = {}
