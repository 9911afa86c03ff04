"""ApiEndpoint: one upstream HTTP API published under /api/{uuid}/proxy/{slug}/ of an api_gateway project."""

from __future__ import annotations

import json
import re
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator, URLValidator
from django.db import models

from credentials.fields import EncryptedTextField
from gateways.common import ssrf
from gateways.common.http import HOP_BY_HOP
from projects.project_types import Resource, holds

HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# Never forwarded upstream, whatever an endpoint says: our own credentials, the client's identity
# with us, framing the proxy recomputes, and hop-by-hop headers (RFC 9110 section 7.6.1).
ALWAYS_BLOCKED = frozenset({"host", "authorization", "x-api-key", "cookie", "content-length"}) | HOP_BY_HOP
# The endpoint's settings past its route and headers, as the API and the admin form both list them.
SETTINGS_FIELDS = (
    "oauth_connection",
    "timeout_seconds",
    "strip_path_prefix",
    "preserve_query",
    "rate_limit_per_minute",
    "rate_limit_per_hour",
    "rate_limit_per_token",
    "max_body_bytes",
    "enabled",
)
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
# RFC 9110 field values: no control character but TAB (the h1 writer refuses the same set at send time,
# so a value it would refuse must be refused at save, not fail every request with 502).
_HEADER_VALUE_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def validate_header_names(value: Any) -> None:
    if not isinstance(value, list) or not all(isinstance(v, str) and _HEADER_NAME.match(v) for v in value):
        raise ValidationError("Must be a list of HTTP header names")


def validate_methods(value: Any) -> None:
    if not isinstance(value, list) or not value or any(m not in HTTP_METHODS for m in value):
        raise ValidationError(f"Must be a non-empty list drawn from {', '.join(HTTP_METHODS)}")


def validate_inject_headers(value: Any) -> None:
    """Injected headers: names valid, values free of control characters but TAB (no header injection)."""
    if not isinstance(value, dict):
        raise ValidationError("Must be an object of header name to value")
    for name, header_value in value.items():
        if not isinstance(name, str) or not _HEADER_NAME.match(name):
            raise ValidationError(f"{name!r} is not a valid header name")
        if name.lower() in ALWAYS_BLOCKED:
            raise ValidationError(f"{name} cannot be injected")
        if not isinstance(header_value, str) or _HEADER_VALUE_CONTROL.search(header_value):
            raise ValidationError(
                f"The value of {name} must be a string without line breaks or other control characters"
            )


def default_methods() -> list[str]:
    return ["GET", "POST", "PUT", "PATCH", "DELETE"]


class ApiEndpoint(models.Model):
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="api_endpoints")
    slug = models.CharField(
        max_length=100,
        validators=[
            RegexValidator(r"^[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?$", "Lower-case letters, digits, - and _")
        ],
    )
    upstream_url = models.URLField(max_length=2000, validators=[URLValidator(schemes=["http", "https"])])
    allowed_methods = models.JSONField(default=default_methods, validators=[validate_methods])
    # Empty: forward every request header that is not blocked. Otherwise: only these.
    forward_headers = models.JSONField(default=list, blank=True, validators=[validate_header_names])
    blocked_headers = models.JSONField(default=list, blank=True, validators=[validate_header_names])
    # A JSON object of header name → value, encrypted at rest and never shown again.
    inject_headers_encrypted = EncryptedTextField()
    oauth_connection = models.ForeignKey(
        "credentials.OAuthConnection",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="api_endpoints",
    )
    timeout_seconds = models.PositiveSmallIntegerField(
        default=30, validators=[MinValueValidator(1), MaxValueValidator(300)]
    )
    strip_path_prefix = models.CharField(max_length=200, blank=True, default="")
    preserve_query = models.BooleanField(default=True)
    rate_limit_per_minute = models.PositiveIntegerField(null=True, blank=True)
    rate_limit_per_hour = models.PositiveIntegerField(null=True, blank=True)
    rate_limit_per_token = models.BooleanField(
        default=False,
        help_text="Apply the limits to each token separately instead of the endpoint as a whole.",
    )
    max_body_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "API endpoint"
        verbose_name_plural = "API endpoints"
        constraints = [models.UniqueConstraint(fields=["project", "slug"], name="unique_api_endpoint_slug")]
        ordering = ["project_id", "slug"]

    def __str__(self) -> str:
        return self.slug

    @property
    def inject_headers(self) -> dict[str, str]:
        return json.loads(self.inject_headers_encrypted) if self.inject_headers_encrypted else {}

    @inject_headers.setter
    def inject_headers(self, value: dict[str, str]) -> None:
        validate_inject_headers(value)
        self.inject_headers_encrypted = json.dumps(value) if value else ""

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        if self.project_id and not holds(self.project.project_type, Resource.API_ENDPOINT):
            errors["project"] = ["API endpoints belong to api_gateway projects"]
        if self.upstream_url:
            try:
                ssrf.validate_url(self.upstream_url)
            except ssrf.SsrfBlocked as exc:
                errors["upstream_url"] = [exc.message]
        connection = self.oauth_connection if self.oauth_connection_id else None
        if connection is not None and connection.project_id != self.project_id:
            errors["oauth_connection"] = ["The OAuth connection belongs to another project"]
        if errors:
            raise ValidationError(errors)
