"""Writing a connection's token state: fresh tokens, a lost grant, a disconnect (each audited)."""

from __future__ import annotations

import datetime
from typing import Any

from django.utils import timezone

from audit.services import record
from credentials.models import OAuthConnection, OAuthStatus
from credentials.oauth.protocol import ClientInfo, TokenSet

TOKEN_FIELDS = [
    "access_token",
    "refresh_token",
    "token_type",
    "expires_at",
    "scopes_granted",
    "status",
    "last_refreshed_at",
    "last_error",
    "options",
    "updated_at",
]


def client_info(conn: OAuthConnection) -> ClientInfo:
    return ClientInfo(
        provider=conn.provider,
        client_id=conn.client_id,
        client_secret=conn.client_secret,
        token_url=conn.token_url,
        revoke_url=conn.revoke_url,
        auth_method=conn.auth_method,
    )


def apply_tokens(conn: OAuthConnection, tokens: TokenSet, *, keep_refresh: bool) -> None:
    """Store a token response. Rotated refresh tokens replace the old one; absent ones keep it."""
    now = timezone.now()
    conn.access_token = tokens.access_token
    if tokens.refresh_token or not keep_refresh:
        conn.refresh_token = tokens.refresh_token
    conn.token_type = tokens.token_type
    conn.expires_at = now + datetime.timedelta(seconds=tokens.expires_in) if tokens.expires_in else None
    if tokens.scopes:
        conn.scopes_granted = tokens.scopes
    if tokens.account:
        conn.options = {**(conn.options or {}), "account": tokens.account}
    conn.status = OAuthStatus.CONNECTED
    conn.last_refreshed_at = now
    conn.last_error = ""
    # Only token fields: an admin editing the connection's settings at the same time keeps their edit.
    conn.save(update_fields=TOKEN_FIELDS)


def mark_needs_reauth(conn: OAuthConnection, code: str) -> None:
    conn.status = OAuthStatus.NEEDS_REAUTH
    conn.access_token = ""
    conn.refresh_token = ""
    conn.expires_at = None
    conn.last_error = f"The grant was revoked or expired ({code}); connect again."
    conn.save(update_fields=TOKEN_FIELDS)
    record("oauth.reauth_required", instance=conn, extra={"error": code})


def note_error(conn: OAuthConnection, message: str) -> None:
    """Remember a passing failure without a config change (queryset update: no audit, no cache drop)."""
    OAuthConnection.objects.filter(pk=conn.pk).update(last_error=message[:500])


def clear_tokens(conn: OAuthConnection, extra: dict[str, Any]) -> None:
    conn.access_token = ""
    conn.refresh_token = ""
    conn.token_type = ""
    conn.expires_at = None
    conn.scopes_granted = []
    conn.status = OAuthStatus.DISCONNECTED
    conn.last_error = ""
    conn.options = {k: v for k, v in (conn.options or {}).items() if k != "account"}
    conn.save(update_fields=TOKEN_FIELDS)
    record("oauth.disconnected", instance=conn, extra=extra)
