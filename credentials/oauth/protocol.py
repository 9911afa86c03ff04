"""OAuth 2.0 wire format, pure: token and revocation requests per preset, token responses parsed."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from credentials.oauth.presets import preset_for, split_scopes

# Refresh failures that mean the grant is gone (revoked, expired, already used), not a passing outage.
GRANT_GONE = frozenset(
    {"invalid_grant", "bad_refresh_token", "invalid_refresh_token", "token_revoked", "token_expired"}
)
_CODE_RE = re.compile(r"[^A-Za-z0-9_.-]")


class OAuthError(Exception):
    """A failed exchange. `kind`: grant_gone | provider | transport. Messages never hold a secret."""

    def __init__(self, kind: str, code: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.code = code
        self.message = message


def safe_code(value: Any) -> str:
    """A provider's error code, reduced to a short token fit for pages, logs and audit rows."""
    return _CODE_RE.sub("", str(value or ""))[:64] or "unknown_error"


@dataclass(frozen=True)
class HttpCall:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes = b""


@dataclass(frozen=True)
class ClientInfo:
    """What a token or revocation request needs to know about a connection."""

    provider: str
    client_id: str
    client_secret: str
    token_url: str
    revoke_url: str
    auth_method: str


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    refresh_token: str
    token_type: str
    expires_in: int | None
    scopes: list[str]
    account: dict[str, Any] = field(default_factory=dict)  # non-secret facts (workspace, team, user)


def _basic(client_id: str, client_secret: str) -> str:
    raw = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def token_call(client: ClientInfo, grant: dict[str, str]) -> HttpCall:
    """The token-endpoint request for a grant (authorization_code or refresh_token)."""
    preset = preset_for(client.provider)
    data = dict(grant)
    headers = {"Accept": "application/json"}  # GitHub answers form-encoded without it
    if client.auth_method == "client_secret_basic":
        headers["Authorization"] = _basic(client.client_id, client.client_secret)
    else:
        data["client_id"] = client.client_id
        data["client_secret"] = client.client_secret
    if preset.token_format == "json":
        headers["Content-Type"] = "application/json"
        body = json.dumps(data).encode()
    else:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        body = urlencode(data).encode()
    return HttpCall("POST", client.token_url, headers, body)


def revoke_call(client: ClientInfo, access_token: str, refresh_token: str) -> HttpCall | None:
    """The provider's revocation request, or None where it offers none."""
    style = preset_for(client.provider).revoke_style
    if not client.revoke_url or not style:
        return None
    if style == "github":
        return HttpCall(
            "DELETE",
            client.revoke_url,
            {
                "Authorization": _basic(client.client_id, client.client_secret),
                "Accept": "application/vnd.github+json",
                "Content-Type": "application/json",
            },
            json.dumps({"access_token": access_token}).encode(),
        )
    if style == "slack":
        return HttpCall("POST", client.revoke_url, {"Authorization": f"Bearer {access_token}"})
    # RFC 7009: revoking the refresh token ends the whole grant at most providers.
    token, hint = (refresh_token, "refresh_token") if refresh_token else (access_token, "access_token")
    data = {"token": token, "token_type_hint": hint}
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if client.auth_method == "client_secret_basic":
        headers["Authorization"] = _basic(client.client_id, client.client_secret)
    else:
        data |= {"client_id": client.client_id, "client_secret": client.client_secret}
    return HttpCall("POST", client.revoke_url, headers, urlencode(data).encode())


def _decode(body: bytes, content_type: str) -> dict[str, Any]:
    text = body.decode("utf-8", errors="replace")
    if "json" in content_type or text.lstrip().startswith("{"):
        try:
            value = json.loads(text)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}
    return dict(parse_qsl(text))


def parse_token_response(provider: str, status: int, body: bytes, content_type: str) -> TokenSet:
    """A token response as a TokenSet, or OAuthError (Slack's ok:false and GitHub's 200 errors too)."""
    data = _decode(body, content_type)
    error = data.get("error")
    if status >= 400 or error or data.get("ok") is False:
        code = safe_code(error or f"http_{status}")
        kind = "grant_gone" if code in GRANT_GONE else "provider"
        if status >= 500:
            kind = "provider"
        raise OAuthError(kind, code, f"The token endpoint refused the request ({code})")
    account: dict[str, Any] = {}
    access_token = data.get("access_token")
    scope = data.get("scope")
    if provider == "slack":
        user = _object(data.get("authed_user"))
        # A bot token (xoxb-) when bot scopes were granted, else the user token under authed_user.
        if not access_token:
            access_token, scope = user.get("access_token"), user.get("scope")
        team = _object(data.get("team"))
        account = {
            "team_id": team.get("id", ""),
            "team_name": team.get("name", ""),
            "authed_user_id": user.get("id", ""),
            "bot_user_id": data.get("bot_user_id", ""),
        }
    elif provider == "notion":
        account = {k: data.get(k, "") for k in ("workspace_id", "workspace_name", "bot_id")}
    elif provider == "github" and data.get("refresh_token_expires_in") is not None:
        account = {"refresh_token_expires_in": _int(data.get("refresh_token_expires_in"))}
    if not isinstance(access_token, str) or not access_token:
        raise OAuthError("provider", "no_access_token", "The token endpoint answered without an access token")
    refresh = data.get("refresh_token")
    return TokenSet(
        access_token=access_token,
        refresh_token=refresh if isinstance(refresh, str) else "",
        token_type=str(data.get("token_type") or "bearer")[:40],
        expires_in=_int(data.get("expires_in")),
        scopes=split_scopes(scope),
        account={k: v for k, v in account.items() if v not in ("", None)},
    )


def _object(value: Any) -> dict[str, Any]:
    """A nested JSON object of the answer, or an empty one when it is missing or not an object."""
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
