"""`POST /api/{uuid}/ai/{slug}`: run an AI endpoint, answering JSON or an SSE stream of deltas.

Body: `{"variables": {...}, "session_id"?: "...", "stream"?: bool}`. A stream sends
`data: {"type": "delta", "delta": "..."}` events and ends with `{"type": "done", ...}` (the JSON
answer's fields: output, parsed, usage, cost, session_id, provider) or `{"type": "error", "error"}`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from django.conf import settings

from gateways.ai import budgets, config, failover, runner, structured
from gateways.ai.providers.base import AdapterError, Usage
from gateways.ai.runner import Prepared, RunResult
from gateways.common.http import JSONResponse, Response, StreamingResponse
from gateways.common.router import GatewayRequest
from gateways.common.transport import http_client
from gateways.guardrails import ai_endpoints as guardrails
from promptgate.errors import ErrorCode, PromptGateError

BODY_FIELDS = frozenset({"variables", "session_id", "stream"})
SSE_HEADERS = {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    "x-accel-buffering": "no",
}


async def handle(greq: GatewayRequest) -> Response:
    slug = greq.tail.strip("/")
    if not slug or "/" in slug:
        raise PromptGateError("Not found", code=ErrorCode.NOT_FOUND, status=404)
    if greq.request.method != "POST":
        raise PromptGateError(
            f"Method {greq.request.method} is not allowed here",
            code=ErrorCode.METHOD_NOT_ALLOWED,
            status=405,
            headers={"Allow": "POST"},
        )
    greq.log["endpoint"] = slug[:200]
    body = parse_body(await greq.request.json(settings.PROMPTGATE_MAX_BODY_BYTES))
    endpoint = await config.endpoint_for(greq, slug)
    stream = body.get("stream", False)
    if stream and not endpoint.stream_allowed:
        raise PromptGateError(
            "Streaming is off for this endpoint", code=ErrorCode.STREAM_NOT_ALLOWED, status=400
        )
    prepared = await runner.prepare(greq, endpoint, body.get("variables"), body.get("session_id"))
    rules = await guardrails.endpoint_input(greq, slug, prepared)  # input guardrails (400 on refusal)
    if stream:
        return await stream_response(greq, prepared, rules)
    result = await runner.run(greq, prepared)
    guardrails.endpoint_output(greq, rules, result)  # output guardrails: redact, or 502
    return JSONResponse(result.body(), headers=headers_for(prepared, result.provider))


def parse_body(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise PromptGateError("The request body must be a JSON object", code=ErrorCode.VALIDATION_ERROR)
    fields = {name[:200]: ["Unknown field."] for name in body if name not in BODY_FIELDS}
    if "stream" in body and not isinstance(body["stream"], bool):
        fields["stream"] = ["Must be true or false."]
    if fields:
        raise PromptGateError("Invalid input", code=ErrorCode.VALIDATION_ERROR, fields=fields)
    return body


def headers_for(prepared: Prepared, provider: str) -> dict[str, str]:
    headers = {**prepared.reservation.headers, "X-PromptGate-Provider": provider}
    if prepared.session_id is not None:
        headers["X-PromptGate-Session-Id"] = prepared.session_id
    return headers


def sse(event: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(event) + b"\n\n"


async def stream_response(greq: GatewayRequest, prepared: Prepared, rules: Any = None) -> StreamingResponse:
    run = await StreamRun.open(greq, prepared)

    async def chunks() -> AsyncIterator[bytes]:
        events = run.events() if rules is None else guardrails.endpoint_events(greq, rules, run.events())
        async for event in events:
            yield sse(event)

    headers = {**headers_for(prepared, run.opened.candidate.target.provider), **SSE_HEADERS}
    return StreamingResponse(chunks(), headers=headers, on_close=run.close)


class StreamRun:
    """One streamed run: deltas as they come, then the schema check (and repair), usage and session."""

    def __init__(self, greq: GatewayRequest, prepared: Prepared, opened: failover.OpenStream) -> None:
        self.greq = greq
        self.prepared = prepared
        self.opened = opened
        self.chars = 0
        self.result: RunResult | None = None

    @classmethod
    async def open(cls, greq: GatewayRequest, prepared: Prepared) -> StreamRun:
        build = runner.build_for(prepared, prepared.messages, stream=True)
        try:
            opened = await failover.open_stream(greq, prepared.chain, build)
        except BaseException:
            await prepared.abandon()
            raise
        return cls(greq, prepared, opened)

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        parts: list[str] = []
        try:
            async for chunk in self.opened.chunks():
                for choice in chunk.get("choices") or ():
                    delta = (choice.get("delta") or {}).get("content")
                    if delta:
                        parts.append(delta)
                        self.chars += len(delta)
                        yield {"type": "delta", "delta": delta}
            if not getattr(self.opened.translator, "complete", True):
                raise http_client.UpstreamError("upstream ended the stream early")
        except (AdapterError, http_client.UpstreamError, TimeoutError, OSError) as exc:
            error = (
                failover.provider_error(exc.error)
                if isinstance(exc, AdapterError)
                else failover.transport_error(exc)
            )
            yield self.error_event(error)
            return
        await self.opened.close()
        try:
            self.result = await self.complete("".join(parts), self.usage())
        except PromptGateError as error:
            yield self.error_event(error)
            return
        yield {"type": "done", **self.result.body()}

    def usage(self) -> Usage:
        usage = self.opened.translator.usage
        if usage is None:  # cut short or the provider sent none: estimate what was produced
            prompt, _ = budgets.estimate_tokens({"messages": self.prepared.messages})
            usage = Usage(prompt, self.chars // 4 + 1)
        return usage

    async def complete(self, output: str, usage: Usage) -> RunResult:
        prepared, candidate = self.prepared, self.opened.candidate
        schema = prepared.endpoint.output_schema
        checked, repaired = None, False
        if schema is not None:
            checked = structured.check(output, schema)
            if not checked.ok:
                try:
                    candidate, output, more, checked = await runner.repair(
                        prepared, output, checked, self.greq
                    )
                except PromptGateError:
                    await runner.settle_unserved(self.greq, prepared, self.opened.candidate, usage)
                    raise
                usage, repaired = runner.add(usage, more), True
            if not checked.ok:
                await runner.settle_unserved(self.greq, prepared, candidate, usage)
                raise runner.schema_violation(checked)
        return await runner.served(self.greq, prepared, candidate, output, usage, checked, repaired)

    def error_event(self, error: PromptGateError) -> dict[str, Any]:
        self.greq.log["error_code"] = error.code
        body: dict[str, Any] = {"code": error.code, "message": error.message}
        if error.fields:
            body["fields"] = error.fields
        return {"type": "error", "error": body}

    async def close(self) -> None:
        """Always runs: a stream cut short (either side) bills what was produced, keeps the session as it was."""
        await self.opened.close()
        if not self.prepared.finished:
            await runner.settle_unserved(self.greq, self.prepared, self.opened.candidate, self.usage())
