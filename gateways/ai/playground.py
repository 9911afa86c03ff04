"""The admin playground's run view: the same runner as /api/{uuid}/ai/{slug}, for a signed-in member.

Session-authenticated (staff, CSRF-checked), scoped to the endpoint's project and allowed to its
developers and above. Answers JSON, or SSE events (the public stream's, plus a first `start` event
with the prompt as sent) that the page reads with fetch + ReadableStream. The playground shows the
prompt exactly as the provider got it (the output schema's instruction included) and the model, which
the public API keeps private. Each run is one request-log row (token prefix `playground`), so it is
counted in usage; budgets hold it as any call (runner.prepare admits it).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
from asgiref.sync import sync_to_async
from django.db import transaction
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect

from gateways.ai import config, endpoint_view, runner, structured
from gateways.ai.models import AIEndpoint
from gateways.common import process_state
from gateways.common.config import ProjectInfo, TokenInfo
from gateways.common.router import GatewayRequest, request_log_row
from gateways.common.runtime import Runtime
from projects.roles import can
from promptgate.errors import ErrorCode, PromptGateError, error_body

RUN_ACTION = "read_logs"  # the developer role and above
_runtime: dict[str, Runtime] = process_state.keep("ai.playground_runtime", {})


def form_variables(endpoint: AIEndpoint) -> list[dict[str, Any]]:
    """The variables as the page's form shows them (defaults as JSON text for non-strings)."""
    rows = []
    for var in endpoint.variables or []:
        default = var.get("default")
        kind = var.get("type", "string")
        text = "" if default is None else (default if kind == "string" else orjson.dumps(default).decode())
        rows.append({**var, "type": kind, "initial": text, "required": bool(var.get("required", True))})
    return rows


def _runtime_for_admin() -> Runtime:
    # A runtime of its own: its config cache follows the shared version like the data plane's.
    if "admin" not in _runtime:
        _runtime["admin"] = Runtime()
    return _runtime["admin"]


def _load(user: Any, pk: int) -> tuple[AIEndpoint | None, bool]:
    if not (user.is_authenticated and user.is_active and user.is_staff):
        return None, False
    row = AIEndpoint.objects.select_related("project").filter(pk=pk).first()
    if row is None or not can(user, row.project, "view"):
        return None, False
    return row, can(user, row.project, RUN_ACTION)


def _greq(row: AIEndpoint, request: HttpRequest) -> GatewayRequest:
    project = row.project
    info = ProjectInfo(
        project.id, str(project.uuid), project.name, project.slug, project.project_type, project.env, True
    )
    # No API token: the playground acts for the signed-in member (project budgets still apply).
    token = TokenInfo(0, project.id, "", "playground", "playground", frozenset({"ai"}), None, False, None, 0)
    return GatewayRequest(
        request=None,  # type: ignore[arg-type]  # the runner never reads the HTTP request
        project=info,
        token=token,
        tail=row.slug,
        runtime=_runtime_for_admin(),
        request_id=uuid.uuid4().hex,
        started=time.perf_counter(),
    )


def _error(exc: PromptGateError, **extra: Any) -> JsonResponse:
    return JsonResponse({**error_body(exc.code, exc.message, exc.fields), **extra}, status=exc.status)


@transaction.non_atomic_requests  # the runner reaches the database in worker threads, as the data plane does
@never_cache
@csrf_protect
async def run_view(request: HttpRequest, pk: int) -> HttpResponseBase:
    if request.method != "POST":
        return JsonResponse(
            error_body(ErrorCode.METHOD_NOT_ALLOWED, "POST only"), status=405, headers={"Allow": "POST"}
        )
    user = await request.auser()
    row, allowed = await sync_to_async(_load)(user, pk)
    if row is None:
        return JsonResponse(error_body(ErrorCode.NOT_FOUND, "Not found"), status=404)
    if not allowed:
        return JsonResponse(
            error_body(ErrorCode.PERMISSION_DENIED, "Your role does not allow this"), status=403
        )
    greq = _greq(row, request)
    endpoint = config.snapshot(row)
    try:
        body = endpoint_view.parse_body(orjson.loads(request.body or b"{}"))
        prepared = await runner.prepare(greq, endpoint, body.get("variables"), body.get("session_id"))
        if body.get("stream"):
            run = await endpoint_view.StreamRun.open(greq, prepared)
            return StreamingHttpResponse(
                _events(run, prepared, greq), headers=dict(endpoint_view.SSE_HEADERS)
            )
        result = await runner.run(greq, prepared)
    except orjson.JSONDecodeError:
        _log(greq, 400, "malformed_json")
        return JsonResponse(
            error_body(ErrorCode.MALFORMED_JSON, "Request body is not valid JSON"), status=400
        )
    except PromptGateError as exc:
        _log(greq, exc.status, exc.code)
        return _error(exc, attempts=greq.log.get("attempts", []))
    answer = {**result.body(), **_extra(greq, result.model, result.repaired)}
    answer["rendered"] = sent(prepared, result.provider)
    _log(greq, 200, "")
    return JsonResponse(answer)


def sent(prepared: runner.Prepared, provider: str) -> dict[str, Any]:
    """What the provider was sent: the messages after the gateway's additions (the output schema's
    instruction for a provider without native structured output), and `response_format` when native."""
    body: dict[str, Any] = {"messages": prepared.messages}
    if prepared.endpoint.output_schema is not None:
        body = structured.apply(dict(body), provider, prepared.endpoint.output_schema)
    messages = body["messages"]
    shown: dict[str, Any] = {
        "system": "\n\n".join(m["content"] for m in messages if m.get("role") == "system"),
        "user": next((m["content"] for m in reversed(messages) if m.get("role") == "user"), ""),
        "messages": messages,
    }
    if "response_format" in body:
        shown["response_format"] = body["response_format"]
    return shown


def _log(greq: GatewayRequest, status: int, error_code: str) -> None:
    """One request-log row per run, as the data plane writes for /ai/{slug}: the run is counted in
    usage like any call (token prefix `playground`)."""
    row = request_log_row(
        project_uuid=greq.project.uuid,
        gateway="ai",
        method="POST",
        path=f"/api/{greq.project.uuid}/ai/{greq.tail}",
        token_prefix=greq.token.prefix,
        status=status,
        started=greq.started,
        upstream_ms=greq.upstream_ms,
        bytes_in=0,
        bytes_out=0,
        error_code=error_code,
        request_id=greq.request_id,
    )
    row.update(greq.log)
    greq.runtime.request_logs.submit(row)


def _extra(greq: GatewayRequest, model: str, repaired: bool) -> dict[str, Any]:
    return {
        "model": model,
        "repaired": repaired,
        "latency_ms": round((time.perf_counter() - greq.started) * 1000, 1),
        "attempts": greq.log.get("attempts", []),
    }


async def _events(
    run: endpoint_view.StreamRun, prepared: runner.Prepared, greq: GatewayRequest
) -> AsyncIterator[bytes]:
    error_code = ""
    try:
        provider = run.opened.candidate.target.provider
        yield endpoint_view.sse({"type": "start", "rendered": sent(prepared, provider), "provider": provider})
        async for event in run.events():
            if event["type"] == "done" and run.result is not None:
                event = {**event, **_extra(greq, run.result.model, run.result.repaired)}
            elif event["type"] == "error":
                error_code = str((event.get("error") or {}).get("code") or "error")
            yield endpoint_view.sse(event)
    finally:
        await run.close()
        _log(greq, 200, error_code)
