"""Credentials: provider API keys and their routing (global), and OAuth service connections (per project)."""

from __future__ import annotations

from django.core.validators import URLValidator
from django.db import models

from credentials.fields import EncryptedTextField


class Credential(models.Model):
    """A provider API key, global (admins only): encrypted at rest, never returned by any API."""

    provider = models.CharField(max_length=40)
    name = models.CharField(max_length=100, unique=True)
    api_key = EncryptedTextField()
    base_url = models.URLField(
        max_length=500, blank=True, default="", validators=[URLValidator(schemes=["http", "https"])]
    )
    # Provider-specific settings, e.g. Azure's api_version.
    options = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["provider", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.provider})"


class ProviderSetting(models.Model):
    """A provider enabled or disabled everywhere (disabled: calls get 403 provider_disabled)."""

    provider = models.CharField(max_length=40, unique=True)
    enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["provider"]

    def __str__(self) -> str:
        return f"{self.provider}: {'enabled' if self.enabled else 'disabled'}"


class ProviderTemplate(models.Model):
    """A named provider + model + default parameters; callable as `model` by its name."""

    name = models.CharField(max_length=100, unique=True)
    provider = models.CharField(max_length=40)
    model = models.CharField(max_length=200)
    parameters = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} → {self.provider}:{self.model}"


class ProviderAssignment(models.Model):
    """Per project: which credential a provider's calls use (rotating the credential needs no token change)."""

    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="provider_assignments"
    )
    provider = models.CharField(max_length=40)
    credential = models.ForeignKey(Credential, on_delete=models.PROTECT, related_name="assignments")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "provider"], name="unique_provider_assignment")
        ]
        ordering = ["project_id", "provider"]

    def __str__(self) -> str:
        return f"{self.provider} → {self.credential.name}"


class OAuthStatus(models.TextChoices):
    DISCONNECTED = "disconnected", "Not connected"
    CONNECTED = "connected", "Connected"
    NEEDS_REAUTH = "needs_reauth", "Needs re-authorization"
    ERROR = "error", "Error"


# What the OAuth flow writes, never the operator: read-only in the admin and the management API alike.
FLOW_FIELDS = ("status", "scopes_granted", "token_type", "expires_at", "last_refreshed_at", "last_error")


class OAuthConnection(models.Model):
    """An OAuth 2.0 grant to a service (preset or custom) that the API gateway injects upstream."""

    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="oauth_connections"
    )
    name = models.CharField(max_length=100)
    provider = models.CharField(max_length=40)  # a preset key (github, google, …) or "custom"
    client_id = models.CharField(max_length=500)
    client_secret = EncryptedTextField()
    scopes = models.JSONField(default=list, blank=True)
    authorize_url = models.URLField(max_length=1000, blank=True, default="")
    token_url = models.URLField(max_length=1000, blank=True, default="")
    revoke_url = models.URLField(max_length=1000, blank=True, default="")
    auth_method = models.CharField(max_length=30, default="client_secret_post")
    use_pkce = models.BooleanField(default=True)
    options = models.JSONField(default=dict, blank=True)  # e.g. Microsoft tenant
    access_token = EncryptedTextField()
    refresh_token = EncryptedTextField()
    token_type = models.CharField(max_length=40, blank=True, default="")
    expires_at = models.DateTimeField(null=True, blank=True)
    scopes_granted = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=20, choices=OAuthStatus.choices, default=OAuthStatus.DISCONNECTED)
    last_refreshed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "OAuth connection"
        verbose_name_plural = "OAuth connections"
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="unique_oauth_connection_name")
        ]
        ordering = ["project_id", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.provider})"
