"""Wire shapes of API endpoints: types and ranges here; the model (URL, SSRF, header rules) validates the rest."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from credentials.models import OAuthConnection
from gateways.http.models import HTTP_METHODS, SETTINGS_FIELDS, ApiEndpoint
from projects.api.base import StrictFieldsMixin

_INT32_MAX = 2**31 - 1
_INT64_MAX = 2**63 - 1
_HEADER_LIST_MAX = 100


def _header_list(help_text: str) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.CharField(max_length=200),
        max_length=_HEADER_LIST_MAX,
        required=False,
        help_text=help_text,
    )


def _limit(help_text: str, maximum: int = _INT32_MAX) -> serializers.IntegerField:
    return serializers.IntegerField(
        min_value=1, max_value=maximum, required=False, allow_null=True, help_text=help_text
    )


class ApiEndpointSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """An API endpoint as read and written; injected header values are write-only."""

    # A plain string on the wire: the model checks it (URL syntax, then the SSRF guard), so that a
    # blocked address answers `ssrf_blocked` even in numeric forms the URL syntax check refuses.
    upstream_url = serializers.CharField(
        max_length=2000, help_text="http(s) URL of the upstream; private addresses are refused."
    )
    allowed_methods = serializers.ListField(
        child=serializers.ChoiceField(choices=list(HTTP_METHODS)),
        allow_empty=False,
        max_length=len(HTTP_METHODS),
        required=False,
        help_text="Methods passed through; others answer 405.",
    )
    forward_headers = _header_list("Request headers forwarded upstream; empty forwards all not blocked.")
    blocked_headers = _header_list("Headers never forwarded, on top of Host, Authorization, Cookie, …")
    inject_headers = serializers.DictField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=8000),
        write_only=True,
        required=False,
        help_text="Header name → value added upstream. Write-only: stored encrypted, never returned. "
        "Omit to keep the stored headers; {} removes them all.",
    )
    inject_header_names = serializers.SerializerMethodField(
        help_text="Names of the injected headers (their values are never shown)."
    )
    oauth_connection = serializers.PrimaryKeyRelatedField(
        queryset=OAuthConnection.objects.none(),
        allow_null=True,
        required=False,
        error_messages={"does_not_exist": "Not an OAuth connection of this project."},
        help_text="Id of an OAuth connection of this project whose token is injected; null for none.",
    )
    timeout_seconds = serializers.IntegerField(
        min_value=1, max_value=300, required=False, help_text="Upstream timeout, 1 to 300 s."
    )
    strip_path_prefix = serializers.CharField(
        max_length=200, allow_blank=True, required=False, help_text="Removed from the tail's start."
    )
    rate_limit_per_minute = _limit("Requests per minute; null for no limit.")
    rate_limit_per_hour = _limit("Requests per hour; null for no limit.")
    max_body_bytes = _limit("Largest request body (413 past it); null for the default.", _INT64_MAX)

    class Meta:
        model = ApiEndpoint
        fields = [
            "id",
            "slug",
            "upstream_url",
            "allowed_methods",
            "forward_headers",
            "blocked_headers",
            "inject_headers",
            "inject_header_names",
            *SETTINGS_FIELDS,
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        # Slug uniqueness per project is checked on save (the project is not on the wire).
        validators: list[Any] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        project = self.context.get("project")
        if project is not None:
            # Another project's connection reads as unknown: ids of other projects do not leak.
            connection = self.fields["oauth_connection"]
            assert isinstance(connection, serializers.RelatedField)  # the model's foreign key
            # The stubs type `queryset` as `QuerySet | Manager`, and mypy reads a Manager-typed attribute as
            # the manager descriptor: a plain QuerySet assignment is refused.
            connection.queryset = OAuthConnection.objects.filter(project=project)  # type: ignore[arg-type]

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_inject_header_names(self, obj: ApiEndpoint) -> list[str]:
        return sorted(obj.inject_headers)
