"""Guardrails on AI endpoints (/api/{uuid}/ai/{slug} and the MCP bridge) and on /v1/embeddings.

AI endpoints: the rendered prompt (every message the runner will send, variables included) on the way
in; the answer (`output`, and `parsed` when the endpoint has a schema) on the way out. Endpoint-level
rules use the endpoint's slug. An input refusal is 400 guardrail_blocked, an output refusal 502 (the
answer is withheld); streams release deltas behind the hold-back guard and end with an error event.

    engine = await endpoint_input(greq, slug, prepared)     # after runner.prepare; abandons on refusal
    endpoint_output(greq, engine, result)                   # redacts RunResult in place, or raises
    async for event in endpoint_events(greq, engine, run.events()): ...
    await embeddings_input(greq, body)                      # body["input"] redacted in place, or 400
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from gateways.common.router import GatewayRequest
from gateways.guardrails.chat import scan_messages
from gateways.guardrails.engine import INPUT, OUTPUT, Engine
from gateways.guardrails.service import engine_for, scan_value
from gateways.guardrails.stream import StreamGuard
from gateways.guardrails.verdicts import record


async def endpoint_input(greq: GatewayRequest, slug: str, prepared: Any) -> Engine:
    engine = await engine_for(greq.runtime.config, greq.project.id, slug)
    if engine.active(INPUT):
        try:
            scan_messages(greq, engine, prepared.messages)
        except BaseException:
            await prepared.abandon()  # give the budget reservation and the session back
            raise
    return engine


def endpoint_output(greq: GatewayRequest, engine: Engine, result: Any) -> None:
    if not engine.active(OUTPUT):
        return
    texts, verdict = engine.scan(OUTPUT, [result.output], messages=1)
    record(greq.log, verdict)
    if verdict.refused:
        raise verdict.exception(502)
    result.output = texts[0]
    if result.has_parsed and verdict.redacted:
        result.parsed = scan_value(engine, OUTPUT, result.parsed).value


async def endpoint_events(
    greq: GatewayRequest, engine: Engine, events: AsyncIterator[dict[str, Any]]
) -> AsyncIterator[dict[str, Any]]:
    """The runner's SSE events with output rules applied: deltas held back and redacted, the final
    `done` event's output redacted the same way, a refusal turned into an `error` event."""
    if not engine.active(OUTPUT):
        async for event in events:
            yield event
        return
    guard = StreamGuard(engine)
    async for event in events:
        if event.get("type") == "delta":
            released = guard.feed(event.get("delta") or "")
        elif event.get("type") == "done":
            released = guard.flush()
        else:
            yield event
            continue
        if released.blocked:
            verdict = guard.verdict()
            record(greq.log, verdict)
            error = verdict.exception(502)
            greq.log["error_code"] = error.code
            yield {"type": "error", "error": {"code": error.code, "message": error.message}}
            return
        if released.text:
            yield {"type": "delta", "delta": released.text}
        if event.get("type") == "done":
            record(greq.log, guard.verdict())
            if isinstance(event.get("output"), str):
                event["output"] = engine.scan(OUTPUT, [event["output"]])[0][0]
            if "parsed" in event:
                event["parsed"] = scan_value(engine, OUTPUT, event["parsed"]).value
            yield event
    # the runner's events end after `done` or `error`: nothing more to release


async def embeddings_input(greq: GatewayRequest, body: dict[str, Any]) -> None:
    engine = await engine_for(greq.runtime.config, greq.project.id, "")
    if not engine.active(INPUT):
        return
    value = body.get("input")
    verdict = scan_value(engine, INPUT, value)
    record(greq.log, verdict)
    if verdict.refused:
        raise verdict.exception(400)
    body["input"] = verdict.value
