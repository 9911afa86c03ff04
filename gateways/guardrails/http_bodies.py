"""Guardrails on the HTTP proxy: JSON and text request and response bodies up to
PROMPTGATE_GUARDRAILS_MAX_BODY_BYTES (a request's `text/event-stream` included; an answer's goes through
the stream hold-back guard), read whole, checked, redacted (re-serialised) or refused:
400 guardrail_blocked for a request, 502 guardrail_blocked for a response. Other content types, and
bodies past the size, pass unchecked and the verdict notes it, except under a `block` rule of that
stage, where an unreadable body (too large, compressed, not valid JSON or UTF-8) refuses with
guardrail_error: failing closed. The proxy calls:

    rules = await rules_for(greq, slug)
    headers = upstream_headers(rules, headers)            # no compressed answers to check
    body = await check_request(greq, rules, request_headers, client_body)   # bytes to send
    response = await check_response(greq, rules, upstream, limit_headers)   # None: stream it as is
"""

from __future__ import annotations

import codecs
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from typing import Any

import orjson
from django.conf import settings

from gateways.common.http import Response, StreamingResponse
from gateways.common.router import GatewayRequest
from gateways.guardrails.engine import INPUT, OUTPUT, Engine
from gateways.guardrails.service import engine_for, scan_value
from gateways.guardrails.stream import StreamGuard
from gateways.guardrails.verdicts import Verdict, record
from promptgate.errors import ErrorCode


async def rules_for(greq: GatewayRequest, slug: str) -> Engine:
    return await engine_for(greq.runtime.config, greq.project.id, slug)


def body_kind(content_type: str | None, *, request: bool = False) -> str | None:
    """ "json", "text", or None for what guardrails do not read. An event stream is text when it is a
    request body (finite: read whole like any text, up to the size limit, so nothing unchecked
    reaches the upstream); an answer's event stream goes through the hold-back guard instead."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media == "application/json" or (media.startswith("application/") and media.endswith("+json")):
        return "json"
    if media.startswith("text/") and (request or media != "text/event-stream"):
        return "text"
    return None


def _blocks(engine: Engine, stage: str) -> bool:
    return any(rule.action == "block" for rule in engine.rules(stage))


def upstream_headers(engine: Engine, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """With output rules, ask the upstream for an uncompressed answer (compressed text cannot be read)."""
    if not engine.active(OUTPUT):
        return headers
    return [(name, value) for name, value in headers if name.lower() != "accept-encoding"]


def _unchecked(
    greq: GatewayRequest, engine: Engine, stage: str, why: str, status: int, fail_closed: bool = True
) -> None:
    """Record that a body passed unchecked; refuse instead (guardrail_error) when it was a readable
    kind that could not be read, under a block rule (failing closed). Other content types pass."""
    verdict = Verdict(stage, note=f"{stage}-unchecked:{why}")
    if fail_closed and _blocks(engine, stage):
        verdict.blocked = [r.name for r in engine.rules(stage) if r.action == "block"]
        verdict.error = True
        record(greq.log, verdict)
        raise verdict.exception(status)
    record(greq.log, verdict)


def _check(greq: GatewayRequest, engine: Engine, stage: str, kind: str, raw: bytes, status: int) -> bytes:
    """The body to pass on (the same object when nothing changed); raises on a refusal."""
    try:
        text = raw.decode("utf-8")
        value: Any = orjson.loads(raw) if kind == "json" else text
    except (UnicodeDecodeError, orjson.JSONDecodeError):
        if kind == "json" and not _blocks(engine, stage):
            value, kind = raw.decode("utf-8", "replace"), "text"
        else:
            _unchecked(greq, engine, stage, "unparseable", status)
            return raw
    verdict = scan_value(engine, stage, value)
    record(greq.log, verdict)
    if verdict.refused:
        raise verdict.exception(status)
    if not verdict.redacted:
        return raw
    if kind == "json":
        return orjson.dumps(verdict.value)
    return str(verdict.value).encode("utf-8")


def _header(headers: Sequence[tuple[Any, Any]], name: str) -> str | None:
    for key, value in headers:
        key_text = key.decode("latin-1") if isinstance(key, bytes) else key
        if key_text.lower() == name:
            return value.decode("latin-1") if isinstance(value, bytes) else value
    return None


def _encoded(headers: Sequence[tuple[Any, Any]]) -> bool:
    encoding = (_header(headers, "content-encoding") or "identity").strip().lower()
    return encoding not in ("", "identity")


async def check_request(
    greq: GatewayRequest, engine: Engine, headers: Sequence[tuple[bytes, bytes]], body: AsyncIterable[bytes]
) -> bytes | AsyncIterable[bytes]:
    """The request body to send upstream: read whole and checked, or passed through unchecked."""
    if not engine.active(INPUT):
        return body
    kind = body_kind(_header(headers, "content-type"), request=True)
    if kind is None:
        _unchecked(greq, engine, INPUT, "content-type", 400, fail_closed=False)
        return body
    if _encoded(headers):
        _unchecked(greq, engine, INPUT, "content-encoding", 400)
        return body
    limit = settings.PROMPTGATE_GUARDRAILS_MAX_BODY_BYTES
    chunks: list[bytes] = []
    size = 0
    iterator = body.__aiter__()
    async for chunk in iterator:
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            _unchecked(greq, engine, INPUT, "too-large", 400)
            return _chain(chunks, iterator)
    return _check(greq, engine, INPUT, kind, b"".join(chunks), 400)


async def _chain(first: list[bytes], rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in first:
        yield chunk
    async for chunk in rest:
        yield chunk


async def check_response(
    greq: GatewayRequest,
    engine: Engine,
    upstream: Any,
    status_headers: dict[str, str],
    passed_headers: list[tuple[bytes, bytes]],
) -> Response | None:
    """The checked answer, or None when the proxy should stream it as it is (nothing to check)."""
    if not engine.active(OUTPUT):
        return None
    try:
        return await _checked_response(greq, engine, upstream, status_headers, passed_headers)
    except BaseException:
        await upstream.aclose()
        raise


async def _checked_response(
    greq: GatewayRequest,
    engine: Engine,
    upstream: Any,
    status_headers: dict[str, str],
    passed_headers: list[tuple[bytes, bytes]],
) -> Response | None:
    content_type = _header(upstream.raw_headers, "content-type") or ""
    if content_type.split(";", 1)[0].strip().lower() == "text/event-stream" and not _encoded(
        upstream.raw_headers
    ):
        return _guarded_stream(greq, engine, upstream, status_headers, passed_headers)
    kind = body_kind(content_type)
    if kind is None:
        _unchecked(greq, engine, OUTPUT, "content-type", 502, fail_closed=False)
        return None
    if _encoded(upstream.raw_headers):
        _unchecked(greq, engine, OUTPUT, "content-encoding", 502)
        return None
    limit = settings.PROMPTGATE_GUARDRAILS_MAX_BODY_BYTES
    chunks: list[bytes] = []
    size = 0
    iterator = upstream.aiter_raw().__aiter__()
    async for chunk in iterator:
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            _unchecked(greq, engine, OUTPUT, "too-large", 502)
            response: Response = StreamingResponse(
                _chain(chunks, iterator),
                status=upstream.status,
                headers=status_headers,
                on_close=upstream.aclose,
            )
            response.raw_headers = passed_headers
            return response
    await upstream.aclose()
    body = _check(greq, engine, OUTPUT, kind, b"".join(chunks), 502)
    response = Response(body, status=upstream.status, headers=status_headers)
    response.raw_headers = [(n, v) for n, v in passed_headers if n.lower() != b"content-length"]
    return response


def _guarded_stream(
    greq: GatewayRequest,
    engine: Engine,
    upstream: Any,
    status_headers: dict[str, str],
    passed_headers: list[tuple[bytes, bytes]],
) -> StreamingResponse:
    """An upstream SSE stream through the hold-back guard, as text: a match split across chunks is
    still redacted; a refusal cuts the stream there (its status line is gone already)."""

    guard = StreamGuard(engine)
    decoder = codecs.getincrementaldecoder("utf-8")("replace")

    async def chunks() -> AsyncIterator[bytes]:
        try:
            async for chunk in upstream.aiter_raw():
                released = guard.feed(decoder.decode(chunk))
                if released.text:
                    yield released.text.encode("utf-8")
                if released.blocked:
                    greq.log["error_code"] = ErrorCode.GUARDRAIL_BLOCKED
                    return
            released = guard.feed(decoder.decode(b"", final=True))
            tail = guard.flush() if not released.blocked else released
            text = released.text + tail.text
            if text:
                yield text.encode("utf-8")
            if tail.blocked:
                greq.log["error_code"] = ErrorCode.GUARDRAIL_BLOCKED
        finally:
            record(greq.log, guard.verdict())

    response = StreamingResponse(
        chunks(), status=upstream.status, headers=status_headers, on_close=upstream.aclose
    )
    response.raw_headers = [(n, v) for n, v in passed_headers if n.lower() != b"content-length"]
    return response
