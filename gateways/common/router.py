"""The data-plane router: `/api/{project_uuid}/{route}/...` → project, route, token, handler, request log.

Every gateway registers `Route`s (see promptgate/dataplane.py). The router does what all of them share,
once: resolve the project from cache (404 alike for unknown and malformed uuids), refuse routes that
are not part of the project's type, check the method, authenticate the token, run the handler, map
errors to the JSON error shape, stamp `X-Request-Id` and `X-PromptGate-Overhead-Ms`, and hand one
RequestLog row to the batched writer.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import redis.exceptions
from django.utils import timezone

from audit.choices import Gateway
from audit.middleware import request_id_from
from gateways.common import cors
from gateways.common.auth import authenticate, presented_token
from gateways.common.config import ProjectInfo, TokenInfo, load_project
from gateways.common.http import (
    ClientDisconnected,
    Receive,
    Request,
    Response,
    Scope,
    Send,
    StreamingResponse,
    error_response,
)
from gateways.common.logrows import RequestLogRow
from gateways.common.runtime import Runtime
from gateways.guardrails.verdicts import LOG_KEY as GUARDRAILS_LOG_KEY
from gateways.guardrails.verdicts import header_value as guardrails_header
from projects.project_types import ProjectType
from projects.tokens import display_prefix
from promptgate.errors import ErrorCode, PromptGateError
from webhooks import emit

logger = logging.getLogger(__name__)

ALL_PROJECT_TYPES = frozenset(ProjectType)


@dataclass
class GatewayRequest:
    """What a route handler gets: the request, its project and token, and the log row it may enrich."""

    request: Request
    project: ProjectInfo
    token: TokenInfo
    tail: str  # the path after /api/{uuid}/{route}, without its leading slash
    runtime: Runtime
    request_id: str
    started: float
    # The handler's RequestLog columns (endpoint, model, tokens, …), merged into the router's row.
    log: RequestLogRow = field(default_factory=RequestLogRow)
    upstream_ms: float | None = None  # time waiting on the upstream until its response headers


Handler = Callable[[GatewayRequest], Awaitable[Response]]


@dataclass(frozen=True)
class Route:
    name: str
    handler: Handler
    scope: str
    gateway: str  # RequestLog.gateway: a Gateway (audit.choices)
    project_types: frozenset[str] = ALL_PROJECT_TYPES
    methods: frozenset[str] | None = None  # None: the handler checks methods itself
    exact: bool = False  # True: no tail allowed (/api/{uuid}/info)
    # How this route words a refusal, from authentication on (OpenAI's shape on /v1, for its SDKs).
    error_response: Callable[[PromptGateError], Response] = error_response
    # Other shapes under some tails: (tail prefix, responder) (Anthropic's under /v1/messages).
    error_responses_by_tail: tuple[tuple[str, Callable[[PromptGateError], Response]], ...] = ()
    cors: bool = False  # browsers may call it from the project's allowed origins (see cors.py)


def _responder(route: Route, tail: str) -> Callable[[PromptGateError], Response]:
    for prefix, responder in route.error_responses_by_tail:
        if tail.startswith(prefix):
            return responder
    return route.error_response


class _Answered(Exception):
    """Answered by the router itself before authentication (a CORS preflight)."""

    def __init__(self, response: Response) -> None:
        self.response = response


def _not_found() -> PromptGateError:
    return PromptGateError("Not found", code=ErrorCode.NOT_FOUND, status=404)


class DataPlane:
    def __init__(self, routes: list[Route], runtime: Runtime) -> None:
        self.routes = {route.name: route for route in routes}
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        request = Request(scope, receive)
        request_id = request_id_from(request.headers.get("x-request-id"))
        greq: GatewayRequest | None = None
        project: ProjectInfo | None = None
        route: Route | None = None
        status, error_code, bytes_out = 500, "", 0
        preflight = False
        tail = ""
        try:
            project, route, tail = await self._resolve(request)
            if project.project_type not in route.project_types:
                raise PromptGateError(
                    f"/{route.name} is not part of a {project.project_type} project",
                    code=ErrorCode.ROUTE_NOT_IN_PROJECT_TYPE,
                    status=404,
                )
            if route.cors and cors.is_preflight(request):
                preflight = True  # answered without a token: browsers send none on a preflight
                raise _Answered(cors.preflight(request, project, route.methods))
            if route.methods is not None and request.method not in route.methods:
                raise PromptGateError(
                    f"Method {request.method} is not allowed here",
                    code=ErrorCode.METHOD_NOT_ALLOWED,
                    status=405,
                    headers={"Allow": ", ".join(sorted(route.methods))},
                )
            token = await authenticate(request, project, route.scope, self.runtime)
            greq = GatewayRequest(request, project, token, tail, self.runtime, request_id, started)
            response = await route.handler(greq)
        except _Answered as answered:
            response = answered.response
        except PromptGateError as exc:
            response = _responder(route, tail)(exc) if route is not None else error_response(exc)
            error_code = exc.code
        except ClientDisconnected:
            status = 499
            response = None
        except redis.exceptions.RedisError as exc:
            # Redis away under a session store, a lock or any other shared state: the documented 503,
            # never a 500 (limits, caps and budgets answer their own 503 or serve, by failure mode).
            logger.warning("Redis unavailable in data plane (request %s): %s", request_id, type(exc).__name__)
            unavailable = PromptGateError(
                "shared state (Redis) is unavailable",
                code=ErrorCode.REDIS_UNAVAILABLE,
                status=503,
                headers={"Retry-After": "1"},
            )
            response = route.error_response(unavailable) if route is not None else error_response(unavailable)
            error_code = unavailable.code
        except Exception:  # the one catch-all: log with the request id, answer a JSON 500
            logger.exception("unhandled error in data plane (request %s)", request_id)
            response = error_response(
                PromptGateError("Internal error", code=ErrorCode.INTERNAL_ERROR, status=500)
            )
            error_code = "internal_error"
        if response is not None:
            if route is not None and route.cors and project is not None and project.allowed_origins:
                cors.decorate(response.headers, request, project)
            status = response.status
            upstream_ms = greq.upstream_ms if greq is not None else None
            overhead = (time.perf_counter() - started) * 1000 - (upstream_ms or 0.0)
            response.headers["x-request-id"] = request_id
            if greq is not None and greq.log.get(GUARDRAILS_LOG_KEY):
                response.headers["x-promptgate-guardrails"] = guardrails_header(greq.log[GUARDRAILS_LOG_KEY])
            response.headers["x-promptgate-overhead-ms"] = f"{max(overhead, 0.0):.3f}"
            try:
                await response(send, receive)
            except ClientDisconnected:
                status = 499
            if isinstance(response, StreamingResponse):
                bytes_out = response.bytes_sent
                if not response.completed and status < 499:
                    status = 499
            else:
                bytes_out = len(response.body)
        if preflight:
            self.runtime.metrics.count(route.gateway if route is not None else Gateway.META, status)
            return  # not a call: no request log row
        self._log(request, request_id, project, route, greq, status, error_code, bytes_out, started)

    async def _resolve(self, request: Request) -> tuple[ProjectInfo, Route, str]:
        # path: /api/{uuid}/{route}[/{tail}]
        parts = request.path.split("/", 4)
        if len(parts) < 4 or not parts[3]:
            raise _not_found()
        try:
            project_uuid = str(uuid.UUID(parts[2]))
        except ValueError:
            raise _not_found() from None
        project = await self.runtime.config.get(("project", project_uuid), lambda: load_project(project_uuid))
        if project is None:
            raise _not_found()
        route = self.routes.get(parts[3])
        tail = parts[4] if len(parts) > 4 else ""
        if route is None or (route.exact and tail):
            raise _not_found()
        return project, route, tail

    def _log(
        self,
        request: Request,
        request_id: str,
        project: ProjectInfo | None,
        route: Route | None,
        greq: GatewayRequest | None,
        status: int,
        error_code: str,
        bytes_out: int,
        started: float,
    ) -> None:
        gateway = route.gateway if route is not None else Gateway.META
        self.runtime.metrics.count(gateway, status)
        if project is None:
            return  # no project, nobody's log to write to
        if greq is not None:
            prefix = greq.token.prefix
        else:
            raw = presented_token(request)
            prefix = display_prefix(raw) if raw else ""
        length = request.headers.get("content-length") or ""
        row = request_log_row(
            project_uuid=project.uuid,
            gateway=gateway,
            method=request.method,
            path=request.path,
            token_prefix=prefix,
            status=status,
            started=started,
            upstream_ms=greq.upstream_ms if greq is not None else None,
            bytes_in=int(length) if length.isdigit() else 0,
            bytes_out=bytes_out,
            error_code=error_code,
            request_id=request_id,
        )
        if greq is not None:
            row.update(greq.log)
            _announce_blocks(greq)
        self.runtime.request_logs.submit(row)


def request_log_row(
    *,
    project_uuid: str,
    gateway: str,
    method: str,
    path: str,
    token_prefix: str,
    status: int,
    started: float,
    upstream_ms: float | None,
    bytes_in: int,
    bytes_out: int,
    error_code: str,
    request_id: str,
) -> RequestLogRow:
    """One RequestLog row's common fields (a handler's `greq.log` adds endpoint, model, tokens, …)."""
    return {
        "time": timezone.now(),
        "project_uuid": project_uuid,
        "gateway": gateway,
        "endpoint": "",
        "method": method,
        "path": path[:500],
        "token_prefix": token_prefix[:20],
        "status": status,
        "latency_ms": round((time.perf_counter() - started) * 1000, 3),
        "upstream_ms": upstream_ms,
        "bytes_in": bytes_in,
        "bytes_out": bytes_out,
        "error_code": error_code,
        "request_id": request_id,
    }


def _announce_blocks(greq: GatewayRequest) -> None:
    """A guardrail refusal on any gateway counts toward `guardrail.blocked` (sent per rule and minute)."""
    entry = greq.log.get("guardrails")
    if not entry or not entry.get("blocked"):
        return

    for hit in entry.get("hits") or ():
        if hit.get("action") == "block":
            emit.guardrail_blocked(
                hit["rule"], level=hit["level"], stage=hit["stage"], project_id=greq.project.id
            )
