"""The authorization-code flow: a signed single-use state with PKCE S256, then the callback's exchange.

`state` is signed with Django's signing (salted, 10-minute max age) and names the connection, the user
and a nonce. The nonce's record (PKCE verifier, redirect URI) lives server-side in the cache (Redis
when configured) and is deleted on first use, so a replayed state finds nothing; the verifier never
travels in a URL.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth import get_user_model
from django.core import signing
from django.core.cache import cache

from audit.services import record
from credentials.models import OAuthConnection
from credentials.oauth import client, presets, store
from credentials.oauth.protocol import OAuthError, parse_token_response, safe_code, token_call
from projects.roles import can
from promptgate.errors import ErrorCode

STATE_SALT = "promptgate.oauth.state"
STATE_MAX_AGE = 600
CALLBACK_PATH = "/oauth/callback"


def _nonce_key(nonce: str) -> str:
    return f"oauth-state:{nonce}"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def callback_uri(request: Any) -> str:
    """The absolute redirect URI of this gateway, as the provider must have it registered."""
    return request.build_absolute_uri(CALLBACK_PATH)


def authorize_url(conn: OAuthConnection, user: Any, redirect_uri: str) -> str:
    """Start the flow for `user`: the provider URL to send their browser to."""
    nonce = secrets.token_urlsafe(24)
    verifier, challenge = pkce_pair() if conn.use_pkce else ("", "")
    cache.set(
        _nonce_key(nonce),
        {"connection": conn.pk, "user": user.pk, "verifier": verifier, "redirect_uri": redirect_uri},
        STATE_MAX_AGE,
    )
    state = signing.dumps({"c": conn.pk, "u": user.pk, "n": nonce}, salt=STATE_SALT, compress=True)
    preset = presets.preset_for(conn.provider)
    params = {
        "response_type": "code",
        "client_id": conn.client_id,
        "redirect_uri": redirect_uri,
        "state": state,
    }
    scope = presets.scope_string(conn.provider, conn.scopes or [])
    if scope:
        params["scope"] = scope
    if challenge:
        params |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    params |= dict(preset.authorize_params)
    record("oauth.connect_started", instance=conn, extra={"provider": conn.provider, "pkce": bool(challenge)})
    separator = "&" if "?" in conn.authorize_url else "?"
    return f"{conn.authorize_url}{separator}{urlencode(params)}"


@dataclass
class Result:
    ok: bool
    reason: str = ""  # a stable code: invalid_state, expired_state, replayed_state, provider_error, ...
    message: str = ""
    connection: OAuthConnection | None = None
    details: dict[str, Any] = field(default_factory=dict)


def _fail(reason: str, message: str, conn: OAuthConnection | None = None, **extra: Any) -> Result:
    extra = {"reason": reason, **extra}
    if conn is not None:
        record("oauth.callback_failed", instance=conn, extra=extra)
    else:
        record("oauth.callback_failed", object_type="credentials.oauthconnection", extra=extra)
    return Result(False, reason, message, conn)


def complete(params: dict[str, str], session_user: Any) -> Result:
    """Handle the provider's redirect: check state, exchange the code, store the tokens."""
    raw_state = params.get("state", "")
    try:
        state = signing.loads(raw_state, salt=STATE_SALT, max_age=STATE_MAX_AGE)
    except signing.SignatureExpired:
        return _fail(
            ErrorCode.EXPIRED_STATE, "This authorization link has expired. Start again from PromptGate."
        )
    except signing.BadSignature:
        return _fail(ErrorCode.INVALID_STATE, "This authorization reply was not started by PromptGate.")
    conn = OAuthConnection.objects.select_related("project").filter(pk=state.get("c")).first()
    if conn is None:
        return _fail(ErrorCode.UNKNOWN_CONNECTION, "The OAuth connection no longer exists.")
    key = _nonce_key(str(state.get("n")))
    pending = cache.get(key)
    # delete() reports whether it removed the key: of two racing callbacks only one proceeds.
    if pending is None or not cache.delete(key):
        return _fail(
            ErrorCode.REPLAYED_STATE, "This authorization reply was already used or has expired.", conn
        )
    if pending.get("connection") != conn.pk or pending.get("user") != state.get("u"):
        return _fail(ErrorCode.INVALID_STATE, "This authorization reply does not match its request.", conn)
    if getattr(session_user, "is_authenticated", False) and session_user.pk != state.get("u"):
        return _fail(ErrorCode.USER_MISMATCH, "This authorization was started by another user.", conn)
    if not _may_connect(state.get("u"), conn):
        return _fail(
            ErrorCode.FORBIDDEN, "The user who started this authorization may no longer manage it.", conn
        )
    if params.get("error"):
        code = safe_code(params["error"])
        return _fail(
            ErrorCode.PROVIDER_ERROR, f"The provider refused the authorization ({code}).", conn, error=code
        )
    code = params.get("code", "")
    if not code:
        return _fail(ErrorCode.MISSING_CODE, "The provider answered without an authorization code.", conn)
    grant = {"grant_type": "authorization_code", "code": code, "redirect_uri": pending["redirect_uri"]}
    if pending.get("verifier"):
        grant["code_verifier"] = pending["verifier"]
    try:
        raw = client.send_sync(token_call(store.client_info(conn), grant))
        tokens = parse_token_response(conn.provider, raw.status, raw.body, raw.content_type)
    except OAuthError as exc:
        return _fail(
            ErrorCode.TOKEN_ERROR, f"The token exchange failed: {exc.message}.", conn, error=exc.code
        )
    store.apply_tokens(conn, tokens, keep_refresh=False)
    record(
        "oauth.connected",
        instance=conn,
        extra={
            "provider": conn.provider,
            "scopes": conn.scopes_granted,
            "expires": conn.expires_at is not None,
        },
    )
    return Result(True, connection=conn)


def _may_connect(user_id: Any, conn: OAuthConnection) -> bool:
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    return user is not None and can(user, conn.project, "manage_endpoints")
