"""Wire shapes of projects, tokens and members; validation only, every change goes through services."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from projects.api.base import JSONObjectField, StrictFieldsMixin
from projects.models import ApiToken, Membership, Project, Role, Scope, validate_tool_patterns
from projects.services import DURATIONS


class ProjectSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """A project as read, and as created."""

    immutable_fields: tuple[str, ...] = ("uuid", "slug")

    metadata = JSONObjectField(required=False, help_text="A JSON object of your own.")
    allowed_origins = serializers.ListField(
        child=serializers.CharField(max_length=300),
        required=False,
        max_length=100,
        help_text="Browser origins given CORS access (`https://app.example.com`, or `*`); none by default.",
    )
    token_count = serializers.IntegerField(read_only=True, help_text="Tokens not revoked.")

    class Meta:
        model = Project
        fields = [
            "uuid",
            "name",
            "slug",
            "description",
            "project_type",
            "env",
            "metadata",
            "allowed_origins",
            "default_ai_provider",
            "is_active",
            "created_at",
            "updated_at",
            "token_count",
        ]
        read_only_fields = ["uuid", "slug", "created_at", "updated_at", "token_count"]


class ProjectUpdateSerializer(ProjectSerializer):
    """A project as changed: uuid, slug and project_type are fixed at creation."""

    immutable_fields = ("uuid", "slug", "project_type")

    class Meta(ProjectSerializer.Meta):
        read_only_fields = [*ProjectSerializer.Meta.read_only_fields, "project_type"]


class TokenSerializer(serializers.ModelSerializer):
    """A token as listed: never its plaintext nor its digest."""

    status = serializers.ChoiceField(
        choices=["active", "expired", "revoked"],
        read_only=True,
        help_text="Derived from revoked_at and expires_at.",
    )
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=Scope.choices), read_only=True)

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "prefix",
            "scopes",
            "expires_at",
            "max_requests",
            "mcp_tools",
            "request_count",
            "status",
            "revoked_at",
            "last_used_at",
            "created_at",
        ]
        read_only_fields = fields


class TokenCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    """A token to issue: expiry as a time (expires_at) or a duration, not both; neither means never."""

    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=Scope.choices), allow_empty=False)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    duration = serializers.ChoiceField(choices=list(DURATIONS), required=False, write_only=True)
    max_requests = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=2**63 - 1,
        help_text="Request cap; null for none.",
    )
    mcp_tools = serializers.ListField(
        child=serializers.CharField(max_length=200),
        max_length=200,
        required=False,
        help_text="MCP tools this token may list and call: exposed names or globs (github__*); empty: all.",
    )

    def validate_mcp_tools(self, value: list[str]) -> list[str]:
        try:
            validate_tool_patterns(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None
        return value


class TokenCreatedSerializer(TokenSerializer):
    """A token just issued: the only answer that ever holds its plaintext."""

    token = serializers.CharField(read_only=True, help_text="The plaintext token, shown this once.")

    class Meta(TokenSerializer.Meta):
        fields = [*TokenSerializer.Meta.fields, "token"]
        read_only_fields = fields


class RevokedCountSerializer(serializers.Serializer):
    revoked = serializers.IntegerField(help_text="How many live tokens were revoked.")


class AddableUserField(serializers.SlugRelatedField):
    """A user by username, among active users; every refusal reads the same.

    An unknown, inactive or malformed username gets one message, so adding members cannot be used
    to learn which usernames exist.
    """

    default_error_messages = {
        "does_not_exist": "This user cannot be added to the project.",
        "invalid": "This user cannot be added to the project.",
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            slug_field="username", queryset=get_user_model().objects.filter(is_active=True), **kwargs
        )

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class MembershipSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """A member of a project: the user (by username) and their role."""

    immutable_fields = ("user",)

    user: serializers.RelatedField[Any, Any, Any] = AddableUserField()
    role = serializers.ChoiceField(choices=Role.choices)

    class Meta:
        model = Membership
        fields = ["id", "user", "role"]
        read_only_fields = ["id"]
        # The (user, project) uniqueness is the service's business (the project is not on the wire).
        validators: list[Any] = []


class MembershipUpdateSerializer(MembershipSerializer):
    """A member's role change; the user is fixed."""

    user = serializers.SlugRelatedField(slug_field="username", read_only=True)
