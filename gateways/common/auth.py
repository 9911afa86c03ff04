"""Public-route authentication: `Authorization: Bearer pg_…` or `X-API-Key`, scopes, project state.

Contract: `authenticate` returns the caller's TokenInfo or raises PromptGateError with one of
missing_token, invalid_token, token_revoked, token_expired, token_request_cap_reached (401),
wrong_project, insufficient_scope, project_inactive (403). Lookups are by HMAC digest from the config
cache (no database query once warm); the stored digest is compared in constant time.
"""

from __future__ import annotations

import hmac
import time
from typing import TYPE_CHECKING

from gateways.common.config import ProjectInfo, TokenInfo, load_token
from projects import tokens
from promptgate.errors import ErrorCode, PromptGateError

if TYPE_CHECKING:
    from gateways.common.http import Request
    from gateways.common.runtime import Runtime

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="promptgate"'}


def _unauthorized(code: str, message: str) -> PromptGateError:
    return PromptGateError(message, code=code, status=401, headers=_CHALLENGE)


def presented_token(request: Request) -> str | None:
    authorization = request.headers.get("authorization", "")
    if authorization[:7].lower() == "bearer ":
        return authorization[7:].strip() or None
    return request.headers.get("x-api-key", "").strip() or None


async def authenticate(request: Request, project: ProjectInfo, scope: str, runtime: Runtime) -> TokenInfo:
    raw = presented_token(request)
    if raw is None:
        raise _unauthorized(ErrorCode.MISSING_TOKEN, "An API token is required (Authorization: Bearer pg_…)")
    if not tokens.is_well_formed(raw):
        raise _unauthorized(ErrorCode.INVALID_TOKEN, "The API token is not valid")
    digest = tokens.digest(raw)
    info = await runtime.config.get(("token", digest), lambda: load_token(digest))
    if info is None or not hmac.compare_digest(info.digest, digest):
        raise _unauthorized(ErrorCode.INVALID_TOKEN, "The API token is not valid")
    if info.revoked:
        raise _unauthorized(ErrorCode.TOKEN_REVOKED, "The API token has been revoked")
    if info.expires_at is not None and info.expires_at <= time.time():
        raise _unauthorized(ErrorCode.TOKEN_EXPIRED, "The API token has expired")
    if info.project_id != project.id:
        raise PromptGateError(
            "The API token belongs to another project", code=ErrorCode.WRONG_PROJECT, status=403
        )
    if scope not in info.scopes:
        raise PromptGateError(
            f"The API token lacks the {scope!r} scope", code=ErrorCode.INSUFFICIENT_SCOPE, status=403
        )
    if not project.is_active:
        raise PromptGateError("The project is inactive", code=ErrorCode.PROJECT_INACTIVE, status=403)
    if info.max_requests is not None:
        used = await runtime.token_counter.hit(info)
        if used > info.max_requests:
            raise _unauthorized(
                ErrorCode.TOKEN_REQUEST_CAP_REACHED, "The API token has used all its requests"
            )
    runtime.token_usage.submit((info.id, time.time()))
    return info
