"""The OpenAI-compatible surface of an ai_gateway project: /v1/chat/completions, /v1/embeddings, /v1/models
(and /v1/responses, served by responses_api.py over this module's admission, logging and cost helpers)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from decimal import Decimal
from typing import Any

import orjson
from django.conf import settings

from gateways.ai import budgets, failover, pricing, routing
from gateways.ai import embeddings as embedding_rules
from gateways.ai.errors import OpenAIError, body_of, invalid_request, openai_error_response
from gateways.ai.providers.base import (
    JSON,
    AdapterError,
    ProviderFailure,
    UpstreamRequest,
    Usage,
    usage_of,
)
from gateways.ai.routing import Candidate
from gateways.common.http import SSE_HEADERS, JSONResponse, Response, StreamingResponse
from gateways.common.router import GatewayRequest
from gateways.common.transport import http_client
from gateways.guardrails import ai_endpoints as endpoint_guardrails
from gateways.guardrails import chat as guardrails
from promptgate.errors import ErrorCode, PromptGateError

COST_PLACES = Decimal("0.00000001")  # RequestLog.cost has 8 decimal places


async def handle(greq: GatewayRequest) -> Response:
    """Dispatch on the path after /v1/; every refusal in OpenAI's error shape (Anthropic's on /messages)."""
    if greq.tail.startswith("messages"):
        from gateways.ai import messages_api  # imports this module's helpers

        return await messages_api.handle(greq)
    try:
        return await _dispatch(greq)
    except PromptGateError as exc:
        greq.log["error_code"] = exc.code
        return openai_error_response(exc)


async def _dispatch(greq: GatewayRequest) -> Response:
    path, method = greq.tail.strip("/"), greq.request.method
    views = {"chat/completions": ("POST", chat_completions), "embeddings": ("POST", embeddings)}
    if path in views:
        allowed, view = views[path]
        _require_method(method, allowed)
        return await view(greq)
    if path == "responses" or path.startswith("responses/"):
        from gateways.ai import responses_api  # imports this module's helpers

        return await responses_api.dispatch(greq, path, method)
    if path == "models" or path.startswith("models/"):
        _require_method(method, "GET")
        return await models(greq, path[len("models/") :] if "/" in path else None)
    raise OpenAIError(f"Unknown endpoint /v1/{path}", code=ErrorCode.NOT_FOUND, status=404)


def _require_method(method: str, allowed: str) -> None:
    if method != allowed:
        raise OpenAIError(
            f"Method {method} is not allowed here",
            code=ErrorCode.METHOD_NOT_ALLOWED,
            status=405,
            headers={"Allow": allowed},
        )


async def _body(greq: GatewayRequest) -> JSON:
    body = await greq.request.json(settings.PROMPTGATE_MAX_BODY_BYTES)
    if not isinstance(body, dict):
        raise invalid_request("The request body must be a JSON object")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise invalid_request("you must provide a model parameter", param="model")
    return body


async def _prices(greq: GatewayRequest) -> pricing.PriceTable:
    return await greq.runtime.config.get(("ai-prices",), pricing.load_overrides)


def _merged(candidate: Candidate, body: JSON) -> JSON:
    """The client's body over the template's default parameters, `model` resolved to the target."""
    return {**candidate.parameters, **body, "model": candidate.target.model}


def _record(
    greq: GatewayRequest, candidate: Candidate, usage: Usage, price: pricing.Price, endpoint: str
) -> int:
    """Fill the log row; returns the cost in nano-USD for the budget settlement."""
    greq.log.update(
        {
            "endpoint": endpoint,
            "provider": candidate.target.provider,
            "model": candidate.target.model[:120],
            "tokens_in": usage.prompt_tokens,
            "tokens_out": usage.completion_tokens,
            "cost": price.cost(usage).quantize(COST_PLACES),
        }
    )
    return price.nanos(usage.prompt_tokens, usage.completion_tokens)


async def _admit(
    greq: GatewayRequest, chain: list[Candidate], body: JSON, prices: pricing.PriceTable
) -> budgets.Reservation:
    prompt, completion = budgets.estimate_tokens(body)
    worst = max(
        pricing.price_for(c.target.provider, c.target.model, prices).nanos(prompt, completion) for c in chain
    )
    return await budgets.admit(greq, worst, prompt + completion)


async def _resolve(greq: GatewayRequest, model: str) -> list[Candidate]:
    glob, proj = await routing.configs(greq)
    return routing.resolve(model, glob, proj)


def _headers(candidate: Candidate, reservation: budgets.Reservation) -> dict[str, str]:
    return {**reservation.headers, "X-PromptGate-Provider": candidate.target.provider}


async def chat_completions(greq: GatewayRequest) -> Response:
    body = await _body(greq)
    greq.log["endpoint"] = "chat.completions"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid_request("`messages` must be a non-empty array", param="messages")
    rules = await guardrails.chat_input(greq, body)  # input guardrails: redact in place or refuse (400)
    chain = await _resolve(greq, body["model"])
    prices = await _prices(greq)
    reservation = await _admit(greq, chain, body, prices)
    stream = bool(body.get("stream"))

    def build(candidate: Candidate) -> UpstreamRequest:
        return candidate.adapter.chat_request(candidate.target, _merged(candidate, body), stream=stream)

    try:
        if stream:
            opened = await failover.open_stream(greq, chain, build)
        else:
            candidate, data = await failover.call_json(greq, chain, build)
            result = _translate(lambda: candidate.adapter.chat_response(candidate.target, data))
    except BaseException:
        await reservation.settle(0, 0)  # nothing was served: give the reservation back
        raise
    if stream:
        return _stream_response(
            greq, opened, body, reservation, prices, guardrails.ChatStream.open(greq, rules)
        )
    result = guardrails.chat_output(greq, rules, result)  # output guardrails: redact or content_filter
    usage = usage_of(result)
    price = pricing.price_for(candidate.target.provider, candidate.target.model, prices)
    nanos = _record(greq, candidate, usage, price, "chat.completions")
    await reservation.settle(nanos, usage.total_tokens)
    return JSONResponse(result, headers=_headers(candidate, reservation))


def _translate(fn: Any) -> JSON:
    try:
        return fn()
    except AdapterError as exc:
        raise failover.provider_error(exc.error) from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise OpenAIError(
            "upstream sent an invalid response", code=ErrorCode.UPSTREAM_ERROR, status=502
        ) from exc


def _stream_response(
    greq: GatewayRequest,
    opened: failover.OpenStream,
    body: JSON,
    reservation: budgets.Reservation,
    prices: pricing.PriceTable,
    guard: guardrails.ChatStream | None = None,
) -> StreamingResponse:
    options = body.get("stream_options")
    want_usage = isinstance(options, Mapping) and bool(options.get("include_usage"))
    candidate = opened.candidate
    produced = {"chars": 0}

    async def events() -> AsyncIterator[bytes]:
        try:
            # One write per upstream read: events that arrived together go out in one send, so a
            # burst costs one ASGI message and one syscall instead of one per event.
            async for batch in opened.batches():
                out = []
                for chunk in batch:
                    produced["chars"] += _content_chars(chunk)
                    if not want_usage:
                        if not chunk.get("choices") and chunk.get("usage"):
                            continue  # we asked upstream for usage; the client did not
                        chunk.pop("usage", None)
                    for piece in guard.process(chunk) if guard is not None else (chunk,):
                        out.append(b"data: " + orjson.dumps(piece) + b"\n\n")
                if out:
                    yield b"".join(out)
                if guard is not None and guard.ended:  # output guardrail refused: content_filter sent
                    yield b"data: [DONE]\n\n"
                    return
            if not getattr(opened.translator, "complete", True):
                raise http_client.UpstreamError("upstream ended the stream early")
            if guard is not None:
                tail = [b"data: " + orjson.dumps(piece) + b"\n\n" for piece in guard.finish()]
                if tail:
                    yield b"".join(tail)
        except failover.STREAM_ERRORS as exc:
            error = failover.stream_error(exc)
            greq.log["error_code"] = error.code
            yield b"data: " + orjson.dumps(body_of(error)) + b"\n\n"
            return
        yield b"data: [DONE]\n\n"

    async def finish() -> None:
        await opened.close()
        usage = opened.translator.usage
        if usage is None:  # cut short or the provider sent none: estimate what was produced
            prompt, _ = budgets.estimate_tokens(body)
            usage = Usage(prompt, produced["chars"] // 4 + 1)
        price = pricing.price_for(candidate.target.provider, candidate.target.model, prices)
        nanos = _record(greq, candidate, usage, price, "chat.completions")
        await reservation.settle(nanos, usage.total_tokens)

    headers = {**_headers(candidate, reservation), **SSE_HEADERS}
    return StreamingResponse(events(), headers=headers, on_close=finish)


def _content_chars(chunk: JSON) -> int:
    total = 0
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") or {}
        total += len(delta.get("content") or "")
        for call in delta.get("tool_calls") or ():
            total += len((call.get("function") or {}).get("arguments") or "")
    return total


async def embeddings(greq: GatewayRequest) -> Response:
    body = await _body(greq)
    greq.log["endpoint"] = "embeddings"
    encoding, token_ids = embedding_rules.check(body)
    await endpoint_guardrails.embeddings_input(greq, body)  # input guardrails: redact in place or 400
    chain = await _resolve(greq, body["model"])
    prices = await _prices(greq)
    reservation = await _admit(greq, chain, {**body, "max_tokens": 1}, prices)
    upstream = embedding_rules.upstream_body(body)

    def build(candidate: Candidate) -> UpstreamRequest:
        if token_ids:
            embedding_rules.refuse_token_ids(candidate.adapter, candidate.target.provider)
        try:
            return candidate.adapter.embeddings_request(candidate.target, _merged(candidate, upstream))
        except NotImplementedError:
            raise AdapterError(
                ProviderFailure(400, "invalid_request_error", f"{candidate.label} has no embeddings API")
            ) from None

    try:
        candidate, data = await failover.call_json(greq, chain, build)
        result = _translate(lambda: candidate.adapter.embeddings_response(candidate.target, data))
        result = embedding_rules.encode(result, encoding)
    except BaseException:
        await reservation.settle(0, 0)
        raise
    usage = Usage(usage_of(result).prompt_tokens, 0)
    price = pricing.price_for(candidate.target.provider, candidate.target.model, prices)
    nanos = _record(greq, candidate, usage, price, "embeddings")
    await reservation.settle(nanos, usage.total_tokens)
    return JSONResponse(result, headers=_headers(candidate, reservation))


async def models(greq: GatewayRequest, model_id: str | None) -> Response:
    greq.log["endpoint"] = "models"
    glob, proj = await routing.configs(greq)
    listed = routing.list_models(glob, proj)
    if model_id is None:
        return JSONResponse({"object": "list", "data": listed})
    for entry in listed:
        if entry["id"] == model_id:
            return JSONResponse(entry)
    # Not listed but callable (a dated variant, a name the default provider serves): say who serves it.
    candidate = routing.resolve(model_id, glob, proj)[0]
    return JSONResponse(
        {"id": model_id, "object": "model", "created": 0, "owned_by": candidate.target.provider}
    )
