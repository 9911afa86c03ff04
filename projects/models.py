"""Projects: the unit of organisation, their members and their API tokens."""

from __future__ import annotations

import re
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinLengthValidator
from django.db import models
from django.utils import timezone

from gateways.ai.providers.registry import provider_names
from projects.project_types import ProjectType


class ProjectEnv(models.TextChoices):
    DEV = "dev", "Development"
    STAGING = "staging", "Staging"
    PROD = "prod", "Production"


def validate_metadata(value: object) -> None:
    if not isinstance(value, dict):
        raise ValidationError("metadata must be a JSON object")


ORIGIN = re.compile(r"^https?://[A-Za-z0-9.\-]+(\[[0-9A-Fa-f:.]+\])?(:[0-9]{1,5})?$|^\*$")


def validate_origins(value: object) -> None:
    """Browser origins allowed by CORS: `scheme://host[:port]` each (no path), or `*` for any."""
    if not isinstance(value, list) or len(value) > 100:
        raise ValidationError("allowed_origins must be a list of at most 100 origins")
    for origin in value:
        if not isinstance(origin, str) or not ORIGIN.match(origin):
            raise ValidationError(f"{origin!r} is not an origin: scheme://host[:port] (no path), or *")


def validate_ai_provider(value: str) -> None:
    if value and value not in provider_names():
        raise ValidationError(f"Unknown provider {value!r}")


class Project(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100, validators=[MinLengthValidator(3)])
    slug = models.SlugField(max_length=120, unique=True, editable=False)
    description = models.CharField(max_length=500, blank=True, default="")
    project_type = models.CharField(max_length=20, choices=ProjectType.choices)
    env = models.CharField(max_length=10, choices=ProjectEnv.choices, default=ProjectEnv.DEV)
    is_active = models.BooleanField(default=True)
    metadata = models.JSONField(default=dict, blank=True, validators=[validate_metadata])
    # Browser origins answered with CORS headers on the data plane (none by default: no browser access).
    allowed_origins = models.JSONField(default=list, blank=True, validators=[validate_origins])
    # ai_gateway: which assigned provider serves a bare model name that several could serve, or none.
    default_ai_provider = models.CharField(
        max_length=40, blank=True, default="", validators=[validate_ai_provider]
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Fields fixed at creation: an attempt to change one is refused with the field named.
    IMMUTABLE_FIELDS = ("uuid", "slug", "project_type")

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    DEVELOPER = "developer", "Developer"
    VIEWER = "viewer", "Viewer"


# Each role can do what the roles after it in this list can do.
ROLE_RANK = {Role.VIEWER: 0, Role.DEVELOPER: 1, Role.ADMIN: 2, Role.OWNER: 3}


class PasswordChangeRequired(models.Model):
    """A user who must choose a new password before using the console (the first admin's one-time one).

    Holds the password hash it was set for: once the user's hash differs (changed in the console or with
    `manage.py changepassword`), the requirement is met and the row is removed.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    password = models.CharField(max_length=128)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "required password change"

    def __str__(self) -> str:
        return f"password change required of user {self.user_id}"


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "project"], name="unique_membership")]
        ordering = ["project_id", "user_id"]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} as {self.role}"


class Scope(models.TextChoices):
    AI = "ai", "AI gateway"
    PROXY = "proxy", "API gateway"
    MCP = "mcp", "MCP"
    ADMIN = "admin", "Introspection"


TOOL_PATTERN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-*?[]!")


def validate_tool_patterns(value: object) -> None:
    """MCP tool globs: exposed names (`github__*`, `alpha__add`) in the characters tool names may use."""
    if not isinstance(value, list) or len(value) > 200:
        raise ValidationError("Must be a list of at most 200 tool name patterns")
    for item in value:
        if not isinstance(item, str) or not 0 < len(item) <= 200 or not set(item) <= TOOL_PATTERN_CHARS:
            raise ValidationError(
                "Each pattern is a tool name or a glob (letters, digits, _ - and * ? [ ] !), 1-200 characters"
            )


class ApiToken(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=20, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(default=list)
    expires_at = models.DateTimeField(null=True, blank=True)
    max_requests = models.PositiveBigIntegerField(null=True, blank=True)
    mcp_tools = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_tool_patterns],
        help_text="MCP tools this token may list and call, as exposed names or globs (github__*); empty: all.",
    )
    request_count = models.PositiveBigIntegerField(default=0, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    # Never copied into audit snapshots, logs or API responses.
    SECRET_FIELDS = ("digest",)

    class Meta:
        verbose_name = "API token"
        verbose_name_plural = "API tokens"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "revoked_at"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def status(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires_at and self.expires_at <= timezone.now():
            return "expired"
        return "active"
