"""CORS for the data plane: browsers may call a project's public routes from the origins it allows.

A project lists its origins in `Project.allowed_origins` (`https://app.example.com`, or `*` for any);
the default is none, so no browser page can read an answer. Routes opt in (`Route.cors`: /v1, /ai,
/mcp). A preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) is answered here,
before authentication, since browsers never send credentials on one: 204 with the allow headers for an
allowed origin, 403 `origin_not_allowed` otherwise. Actual responses to an allowed origin (errors
included, so a page can read why it was refused) carry `Access-Control-Allow-Origin` and expose the
headers clients read (`Mcp-Session-Id`, `X-Request-Id`, rate-limit headers, …). No credentials mode:
tokens travel in headers, never cookies.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping

from gateways.common.config import ProjectInfo
from gateways.common.http import Request, Response
from promptgate.errors import ErrorCode, PromptGateError

EXPOSED = ", ".join(
    (
        "Mcp-Session-Id",
        "Mcp-Protocol-Version",
        "X-Request-Id",
        "X-PromptGate-Provider",
        "X-PromptGate-Overhead-Ms",
        "Retry-After",
        "RateLimit",
        "RateLimit-Policy",
        "x-should-retry",
    )
)
DEFAULT_METHODS = "GET, POST, DELETE, OPTIONS"
MAX_AGE = "600"


def origin_allowed(project: ProjectInfo, origin: str | None) -> bool:
    """True when `origin` (the request's Origin header) may call this project from a browser.

    The MCP server's Origin check (DNS-rebinding defence) can call this too, so per-project origins
    hold there as well.
    """
    if not origin or not project.allowed_origins:
        return False
    return "*" in project.allowed_origins or origin.lower().rstrip("/") in _lowered(project)


def _lowered(project: ProjectInfo) -> frozenset[str]:
    return frozenset(o.lower().rstrip("/") for o in project.allowed_origins)


def is_preflight(request: Request) -> bool:
    return (
        request.method == "OPTIONS"
        and "origin" in request.headers
        and "access-control-request-method" in request.headers
    )


def preflight(request: Request, project: ProjectInfo, methods: Iterable[str] | None) -> Response:
    origin = request.headers.get("origin", "")
    if not origin_allowed(project, origin):
        raise PromptGateError(
            "This origin may not call this project from a browser (see the project's allowed_origins)",
            code=ErrorCode.ORIGIN_NOT_ALLOWED,
            status=403,
            headers={"Vary": "Origin"},
        )
    allowed = ", ".join(sorted({*methods, "OPTIONS"})) if methods else DEFAULT_METHODS
    headers = {
        "access-control-allow-origin": origin,
        "access-control-allow-methods": allowed,
        "access-control-max-age": MAX_AGE,
        "vary": "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
    }
    asked = request.headers.get("access-control-request-headers")
    if asked:
        # Whatever the page's client sends (SDKs add their own x-stainless-*, anthropic-* headers):
        # the token still has to be valid on the actual request.
        headers["access-control-allow-headers"] = asked
    return Response(b"", 204, headers)


def decorate(headers: MutableMapping[str, str], request: Request, project: ProjectInfo) -> None:
    """CORS headers on an actual response, when the request came from an allowed origin (called only
    for projects that allow some origin: their answers vary with Origin, allowed or not)."""
    origin = request.headers.get("origin")
    headers["vary"] = "Origin"
    if origin_allowed(project, origin):
        headers["access-control-allow-origin"] = origin  # type: ignore[assignment]  # origin_allowed is False for a missing origin
        headers["access-control-expose-headers"] = EXPOSED
