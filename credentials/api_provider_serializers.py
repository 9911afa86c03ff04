"""Wire shapes of credentials, templates and provider settings: validation only."""

from __future__ import annotations

import re
from typing import Any

from rest_framework import serializers
from rest_framework.validators import UniqueValidator

from credentials import providers
from credentials.models import Credential, ProviderSetting, ProviderTemplate
from gateways.ai.providers.registry import PROVIDER_CHOICES, get_adapter, requires_base_url, split_model
from gateways.common import ssrf
from projects.api.base import JSONObjectField, StrictFieldsMixin

INVALID_KEY = providers.INVALID_KEY
ALIAS_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/\-]{0,99}")
# Request fields a template may not preset: the caller's request decides them.
RESERVED_PARAMETERS = frozenset({"model", "messages", "stream", "stream_options"})


def _looks_like_provider_model(name: str) -> bool:
    return split_model(name) is not None


class CredentialSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """A credential as read and written: the key is write-only; reads carry a masked hint."""

    immutable_fields = ("provider",)

    provider = serializers.ChoiceField(choices=PROVIDER_CHOICES)
    api_key = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=4000,
        style={"input_type": "password"},
        help_text="Write-only; checked against the provider's key format.",
    )
    api_key_hint = serializers.SerializerMethodField(help_text="The key masked, e.g. sk-…a1b2.")
    options = JSONObjectField(
        required=False, help_text='Provider options, e.g. {"api_version": "2024-10-21"}.'
    )

    class Meta:
        model = Credential
        fields = [
            "id",
            "provider",
            "name",
            "api_key",
            "api_key_hint",
            "base_url",
            "options",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "api_key_hint", "created_at", "updated_at"]

    def get_api_key_hint(self, obj: Credential) -> str:
        return providers.key_hint(obj.api_key)

    def validate_base_url(self, value: str) -> str:
        # Checked like every user-controlled URL (PROMPTGATE_SSRF_ALLOW admits a LAN model server).
        if value:
            try:
                ssrf.check_saved_url(value, "base_url")
            except ssrf.SsrfBlocked as exc:
                raise serializers.ValidationError(exc.public_message) from None
        return value

    def validate_options(self, value: dict[str, Any]) -> dict[str, Any]:
        if any(not isinstance(v, str | int | float | bool) for v in value.values()):
            raise serializers.ValidationError("Option values must be strings, numbers or booleans.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        instance: Credential | None = self.instance
        provider = attrs.get("provider") or (instance.provider if instance else "")
        adapter = get_adapter(provider)
        if "api_key" in attrs or instance is None:
            api_key = attrs.get("api_key", "")
            if not adapter.validate_api_key(api_key):
                raise serializers.ValidationError({"api_key": [INVALID_KEY]})
        base_url = attrs.get("base_url", instance.base_url if instance else "")
        if requires_base_url(provider) and not base_url:
            raise serializers.ValidationError({"base_url": ["This provider needs a base URL."]})
        return attrs


class TemplateSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    provider = serializers.ChoiceField(choices=PROVIDER_CHOICES)
    parameters = JSONObjectField(required=False, help_text="Default request parameters, e.g. temperature.")

    class Meta:
        model = ProviderTemplate
        fields = ["id", "name", "provider", "model", "parameters", "enabled", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]

    def validate_name(self, value: str) -> str:
        if _looks_like_provider_model(value):
            raise serializers.ValidationError("A template name cannot have the form provider:model.")
        return value

    def validate_parameters(self, value: dict[str, Any]) -> dict[str, Any]:
        reserved = sorted(RESERVED_PARAMETERS & set(value))
        if reserved:
            raise serializers.ValidationError(
                f"Set by each request, not by a template: {', '.join(reserved)}."
            )
        return value


class SettingSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    immutable_fields = ("provider",)

    provider = serializers.ChoiceField(
        choices=PROVIDER_CHOICES,
        validators=[
            UniqueValidator(ProviderSetting.objects.all(), message="This provider already has a setting.")
        ],
    )

    class Meta:
        model = ProviderSetting
        fields = ["id", "provider", "enabled", "updated_at"]
        read_only_fields = ["id", "updated_at"]
