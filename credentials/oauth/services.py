"""Connection management shared by the admin and the API: validation, presets applied, refresh, disconnect."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from credentials.models import OAuthConnection
from credentials.oauth import client, presets, refresh, store
from credentials.oauth.protocol import OAuthError, revoke_call
from gateways.common import ssrf
from projects.project_types import Resource, holds
from promptgate.errors import ErrorCode, PromptGateError

WRITABLE_OPTIONS = frozenset({"tenant"})
# What a caller sets on a connection (the API and the admin form alike); the rest is the server's.
WRITABLE_FIELDS = (
    "name",
    "provider",
    "client_id",
    "client_secret",
    "scopes",
    "authorize_url",
    "token_url",
    "revoke_url",
    "auth_method",
    "use_pkce",
    "options",
)
NAME_TAKEN = "A connection with this name exists in the project."


def prepare(conn: OAuthConnection) -> None:
    """Validate a connection and fill in its preset's URLs and quirks (raises ValidationError)."""
    errors: dict[str, list[str]] = {}
    if conn.project_id and not holds(conn.project.project_type, Resource.OAUTH_CONNECTION):
        errors["project"] = ["OAuth connections belong to api_gateway projects"]
    if conn.provider not in presets.PRESETS and conn.provider != presets.CUSTOM:
        errors["provider"] = [f"Must be one of: {', '.join([*presets.PRESETS, presets.CUSTOM])}"]
    options = conn.options if isinstance(conn.options, dict) else None
    if options is None:
        errors["options"] = ["Must be an object"]
        options = {}
    tenant = options.get("tenant")
    if tenant is not None and (not isinstance(tenant, str) or not presets.TENANT_RE.match(tenant)):
        errors["options"] = ["tenant: letters, digits, dots and dashes only"]
    if not isinstance(conn.scopes, list) or not all(
        isinstance(s, str) and s and " " not in s for s in conn.scopes
    ):
        errors["scopes"] = ["Must be a list of scope names"]
    if errors:
        raise ValidationError(errors)
    if conn.provider in presets.PRESETS:
        preset = presets.PRESETS[conn.provider]
        for name, url in presets.resolved_urls(conn.provider, conn.client_id, options).items():
            setattr(conn, name, url)
        conn.auth_method = preset.auth_method
        conn.use_pkce = preset.use_pkce
        return
    if conn.auth_method not in presets.AUTH_METHODS:
        errors["auth_method"] = [f"Must be one of: {', '.join(presets.AUTH_METHODS)}"]
    for name in ("authorize_url", "token_url", "revoke_url"):
        url = getattr(conn, name)
        if not url:
            if name != "revoke_url":
                errors[name] = ["Required for a custom provider"]
            continue
        try:
            ssrf.validate_url(url)
        except ssrf.SsrfBlocked as exc:
            errors[name] = [exc.message]
    if errors:
        raise ValidationError(errors)


def save_connection(conn: OAuthConnection, changes: dict[str, Any]) -> OAuthConnection:
    """Apply caller changes, validate (presets applied, URLs SSRF-checked, name unique), save.

    Raises ValidationError listing the problems; the caller answers it in its own shape.
    """
    if "options" in changes:
        changes = {**changes, "options": writable_options(conn.options, changes["options"])}
    for name, value in changes.items():
        setattr(conn, name, value)
    if not conn.client_secret:
        raise ValidationError({"client_secret": ["This field is required."]})
    prepare(conn)
    others = OAuthConnection.objects.filter(project_id=conn.project_id, name=conn.name)
    if others.exclude(pk=conn.pk).exists():
        raise ValidationError({"name": [NAME_TAKEN]})
    conn.save()
    return conn


def writable_options(current: dict[str, Any], submitted: dict[str, Any]) -> dict[str, Any]:
    """Caller-set options merged over the server-kept ones (the account facts from the provider)."""
    unknown = sorted(set(submitted) - WRITABLE_OPTIONS)
    if unknown:
        raise ValidationError({"options": [f"Unknown option: {', '.join(unknown)}"]})
    kept = {k: v for k, v in (current or {}).items() if k not in WRITABLE_OPTIONS}
    return {**kept, **submitted}


def refresh_now(conn: OAuthConnection) -> OAuthConnection:
    """Manual refresh (admin, API) under the same cross-process lock as the data plane."""
    if not conn.refresh_token:
        raise PromptGateError(
            "This connection has no refresh token", code=ErrorCode.OAUTH_NO_REFRESH_TOKEN, status=409
        )
    outcome = refresh.refresh(conn.pk, client.send_sync, force=True)
    if outcome.error:
        raise PromptGateError(
            outcome.message, code=outcome.error, status=502 if "failed" in outcome.error else 409
        )
    return OAuthConnection.objects.get(pk=conn.pk)


def disconnect(conn: OAuthConnection) -> bool:
    """Revoke the grant at the provider where it offers revocation, then forget the tokens.

    Answers whether the provider confirmed the revocation; the tokens are forgotten either way.
    """
    revoked = False
    error = ""
    call = revoke_call(store.client_info(conn), conn.access_token, conn.refresh_token)
    if call is not None and (conn.access_token or conn.refresh_token):
        try:
            raw = client.send_sync(call)
            revoked = raw.status < 400 and b'"ok":false' not in raw.body.replace(b" ", b"")
            error = "" if revoked else f"http_{raw.status}"
        except OAuthError as exc:
            error = exc.code
    store.clear_tokens(
        conn, {"revoked_at_provider": revoked, "revocation_supported": call is not None, "error": error}
    )
    return revoked
