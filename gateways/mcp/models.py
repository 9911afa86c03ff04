"""McpServer (an upstream MCP server aggregated by an mcp_gateway project) and McpSession (shared sessions)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator, URLValidator
from django.db import models

from credentials.fields import EncryptedTextField
from gateways.common import ssrf
from projects.project_types import Resource, holds

PREFIX_PATTERN = r"^[a-zA-Z0-9_-]+$"
# Tool names many LLM clients accept: longer aggregated names get an admin warning.
TOOL_NAME_LIMIT = 64
SEPARATOR = "__"


def validate_prefix(value: str) -> None:
    # With no "__" inside and no "_" at the end, <prefix>__<name> of two servers can never coincide.
    if SEPARATOR in value or value.endswith("_"):
        raise ValidationError('A prefix must not contain "__" or end with "_"')


def validate_name_list(value: Any) -> None:
    if not isinstance(value, list) or not all(isinstance(v, str) and 0 < len(v) <= 200 for v in value):
        raise ValidationError("Must be a list of tool names")
    if len(value) > 1000:
        raise ValidationError("At most 1000 names")


class UpstreamProtocol(models.TextChoices):
    AUTO = "auto", "Auto (2026-07-28 if offered, else session handshake)"
    MODERN = "2026-07-28", "2026-07-28 (stateless)"
    LEGACY = "legacy", "Session handshake (2025-11-25 and earlier)"


# A server's settings past its prefix, URL and token, as the management API and the admin form both
# list them.
SETTINGS_FIELDS = (
    "enabled",
    "timeout_seconds",
    "tool_timeout_seconds",
    "protocol",
    "tool_allow",
    "tool_deny",
    "rate_limit_per_minute",
)


class McpServer(models.Model):
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="mcp_servers")
    prefix = models.CharField(
        max_length=60,
        validators=[RegexValidator(PREFIX_PATTERN, "Letters, digits, - and _ only"), validate_prefix],
        help_text="Tools appear to clients as PREFIX__TOOL: with prefix github, the tool create_issue is github__create_issue.",
    )
    upstream_url = models.URLField(max_length=2000, validators=[URLValidator(schemes=["http", "https"])])
    # Sent upstream as `Authorization: Bearer …`; encrypted at rest, never shown again.
    bearer_token = EncryptedTextField()
    enabled = models.BooleanField(default=True)
    timeout_seconds = models.PositiveSmallIntegerField(
        default=30,
        validators=[MinValueValidator(1), MaxValueValidator(300)],
        help_text="Seconds for connecting, the handshake and lists.",
    )
    tool_timeout_seconds = models.PositiveIntegerField(
        default=120,
        validators=[MinValueValidator(1), MaxValueValidator(3600)],
        help_text="Seconds one tools/call may run; a slower tool is that call's error, not an outage.",
    )
    protocol = models.CharField(
        max_length=20, choices=UpstreamProtocol.choices, default=UpstreamProtocol.AUTO
    )
    tool_allow = models.JSONField(
        default=list, blank=True, validators=[validate_name_list], help_text="Only these tools; empty: all."
    )
    tool_deny = models.JSONField(
        default=list, blank=True, validators=[validate_name_list], help_text="Never these tools."
    )
    rate_limit_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="tools/call per minute to this upstream, shared by all workers."
    )
    # Health as last seen by a gateway process; written with queryset.update (no audit, no config bump).
    last_status = models.CharField(max_length=10, default="unknown", editable=False)
    last_error = models.CharField(max_length=200, blank=True, default="", editable=False)
    last_checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "MCP server"
        verbose_name_plural = "MCP servers"
        constraints = [models.UniqueConstraint(fields=["project", "prefix"], name="unique_mcp_server_prefix")]
        ordering = ["project_id", "prefix"]

    def __str__(self) -> str:
        return self.prefix

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        if self.project_id and not holds(self.project.project_type, Resource.MCP_SERVER):
            errors["project"] = ["MCP servers belong to mcp_gateway projects"]
        if self.upstream_url:
            try:
                ssrf.validate_url(self.upstream_url)
            except ssrf.SsrfBlocked as exc:
                errors["upstream_url"] = [exc.message]
        if self.bearer_token and any(c in self.bearer_token for c in "\r\n\0"):
            errors["bearer_token"] = ["Must not contain line breaks"]
        if errors:
            raise ValidationError(errors)


class McpSession(models.Model):
    """A gateway session when no Redis is configured: any process reads it, so any worker serves it.

    Written only through queryset calls (bulk_create, update, raw delete): sessions are traffic, not
    configuration, so they must neither be audited nor bump the config version.
    """

    digest = models.CharField(max_length=64, unique=True)  # SHA-256 of the session id, never the id
    project_uuid = models.UUIDField(db_index=True)
    token_id = models.BigIntegerField()
    protocol_version = models.CharField(max_length=20)
    upstream_sessions = models.JSONField(default=dict)  # McpServer id (str) → upstream Mcp-Session-Id
    created_at = models.DateTimeField()
    last_seen_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"MCP session {self.digest[:8]}…"
