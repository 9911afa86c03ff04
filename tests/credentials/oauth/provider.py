"""A real local OAuth 2.0 provider for tests: aiohttp on 127.0.0.1 in a thread, one base per preset.

Routes: `/p/{preset}/...`, the real provider's paths under it (a preset's URLs rebased through
PROMPTGATE_OAUTH_PRESET_OVERRIDES land here unchanged). Each path is an authorize, token or revoke
endpoint by its ending. Authorize auto-approves (or answers error=access_denied when `deny` is set);
token checks client authentication, PKCE S256 and the redirect URI, issues per-preset shapes, rotates
single-use refresh tokens (reuse: invalid_grant) and counts refresh calls.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode

from aiohttp import web

from tests.threaded import AiohttpServer

CLIENT_ID = "client-abc"
CLIENT_SECRET = "client-secret-Zk81Qw"
ROTATING = {"github", "slack", "microsoft", "discord", "custom"}  # google keeps its refresh token


class OAuthProvider(AiohttpServer):
    """`requests` records the token and revoke calls."""

    thread_name = "test-oauth"
    handler_cancellation = False

    def __init__(self) -> None:
        super().__init__()
        self.codes: dict[str, dict[str, Any]] = {}
        self.refresh_tokens: dict[str, bool] = {}  # token -> still valid
        self.issued: list[str] = []  # every access token issued, in order
        self.refresh_calls = 0
        self.expires_in: int | None = 3600
        self.github_expiring = True
        self.deny = False
        self.fail_token = False
        self.refresh_delay = 0.0
        self.revoked: list[str] = []

    def base(self, preset: str) -> str:
        return f"http://127.0.0.1:{self.port}/p/{preset}"

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/p/{preset}/{tail:.*}", self._dispatch)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        preset, tail = request.match_info["preset"], request.match_info["tail"]
        if tail.endswith("authorize") or tail.endswith("/auth"):
            return self._authorize(request, preset, tail)
        body = await request.read()
        record = {
            "preset": preset,
            "tail": tail,
            "method": request.method,
            "headers": dict(request.headers),
            "content_type": request.content_type,
            "body": body.decode(),
        }
        if tail.endswith("revoke") or tail.endswith("/grant"):
            record["kind"] = "revoke"
            self.record(record)
            return self._revoke(request, preset, body)
        record["kind"] = "token"
        self.record(record)
        data = (
            json.loads(body) if request.content_type == "application/json" else dict(parse_qsl(body.decode()))
        )
        record["data"] = data
        if data.get("grant_type") == "refresh_token" and self.refresh_delay:
            await asyncio.sleep(self.refresh_delay)
        return self._token(request, preset, tail, data, record)

    # --- endpoints ----------------------------------------------------------------------------------
    def _authorize(self, request: web.Request, preset: str, tail: str) -> web.Response:
        q = request.query
        redirect = q["redirect_uri"]
        if self.deny:
            return _redirect(redirect, {"error": "access_denied", "state": q.get("state", "")})
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "client_id": q.get("client_id"),
            "redirect_uri": redirect,
            "challenge": q.get("code_challenge"),
            "method": q.get("code_challenge_method"),
            "scope": q.get("scope", ""),
            "query": dict(q),
            "tail": tail,
        }
        return _redirect(redirect, {"code": code, "state": q.get("state", "")})

    def _client_ok(self, request: web.Request, data: dict[str, Any], record: dict[str, Any]) -> bool:
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            cid, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            record["auth"] = "basic"
            return unquote(cid) == CLIENT_ID and unquote(secret) == CLIENT_SECRET
        record["auth"] = "post"
        return data.get("client_id") == CLIENT_ID and data.get("client_secret") == CLIENT_SECRET

    def _error(self, preset: str, code: str, status: int = 400) -> web.Response:
        if preset == "slack":
            return web.json_response({"ok": False, "error": code})
        if preset == "github":
            return web.json_response({"error": code, "error_description": "refused"})
        return web.json_response({"error": code}, status=status)

    def _token(
        self, request: web.Request, preset: str, tail: str, data: dict[str, Any], record: dict[str, Any]
    ) -> web.Response:
        if self.fail_token:
            return web.json_response({"error": "server_error"}, status=503)
        if not self._client_ok(request, data, record):
            return self._error(preset, "invalid_client", 401)
        grant = data.get("grant_type")
        if grant == "authorization_code":
            pending = self.codes.pop(data.get("code", ""), None)
            if pending is None or pending["redirect_uri"] != data.get("redirect_uri"):
                return self._error(preset, "invalid_code" if preset == "slack" else "invalid_grant")
            if pending["challenge"]:
                verifier = data.get("code_verifier", "")
                digest = hashlib.sha256(verifier.encode()).digest()
                if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != pending["challenge"]:
                    return self._error(preset, "invalid_grant")
            return web.json_response(self._issue(preset, first=True, scope=pending["scope"]))
        if grant == "refresh_token":
            with self._lock:
                self.refresh_calls += 1
                token = data.get("refresh_token", "")
                if not self.refresh_tokens.get(token):
                    return self._error(preset, "bad_refresh_token" if preset == "github" else "invalid_grant")
                if preset in ROTATING:
                    self.refresh_tokens[token] = False  # single use
            return web.json_response(self._issue(preset, first=False, scope="", keep=token))
        return self._error(preset, "unsupported_grant_type")

    def _issue(self, preset: str, *, first: bool, scope: str, keep: str = "") -> dict[str, Any]:
        access = f"at-{preset}-{secrets.token_hex(8)}"
        self.issued.append(access)
        refresh = ""
        if preset in ROTATING or first:
            refresh = f"rt-{preset}-{secrets.token_hex(8)}"
            self.refresh_tokens[refresh] = True
        if preset == "notion":
            return {
                "access_token": access,
                "token_type": "bearer",
                "bot_id": "bot-1",
                "workspace_id": "ws-1",
                "workspace_name": "Acme",
                "workspace_icon": None,
                "owner": {"type": "user"},
                "duplicated_template_id": None,
            }
        if preset == "slack":
            body: dict[str, Any] = {
                "ok": True,
                "access_token": access,
                "token_type": "bot",
                "scope": "channels:read,chat:write",
                "bot_user_id": "B1",
                "app_id": "A1",
                "team": {"id": "T1", "name": "Acme"},
                "authed_user": {
                    "id": "U1",
                    "scope": "search:read",
                    "access_token": "xoxp-user",
                    "token_type": "user",
                },
            }
            if self.expires_in:
                body |= {"expires_in": self.expires_in, "refresh_token": refresh}
            return body
        if preset == "github":
            body = {"access_token": access, "token_type": "bearer", "scope": "read:user,repo"}
            if self.github_expiring:
                body |= {
                    "expires_in": self.expires_in,
                    "refresh_token": refresh,
                    "refresh_token_expires_in": 15_897_600,
                }
            return body
        body = {"access_token": access, "token_type": "Bearer", "scope": scope or "openid email"}
        if self.expires_in:
            body["expires_in"] = self.expires_in
        if refresh:
            body["refresh_token"] = refresh
        return body

    def _revoke(self, request: web.Request, preset: str, body: bytes) -> web.Response:
        if preset == "github":
            self.revoked.append(json.loads(body)["access_token"])
            return web.Response(status=204)
        if preset == "slack":
            self.revoked.append(request.headers.get("Authorization", "")[7:])
            return web.json_response({"ok": True, "revoked": True})
        token = dict(parse_qsl(body.decode())).get("token", "")
        self.revoked.append(token)
        self.refresh_tokens[token] = False
        return web.Response(status=200)


def _redirect(url: str, params: dict[str, str]) -> web.Response:
    separator = "&" if "?" in url else "?"
    return web.Response(status=302, headers={"Location": f"{url}{separator}{urlencode(params)}"})
