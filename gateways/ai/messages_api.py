"""Anthropic's Messages API on an ai_gateway project: POST /v1/messages and /v1/messages/count_tokens.

Authenticated like the rest of /v1 (`x-api-key: pg_…` as the anthropic SDK sends it, or a Bearer
token), refused in Anthropic's error shape. A request goes the way of a chat completion (openai_api.py):
model resolution, admission (limits and budgets), failover, usage and cost, the request log. Anthropic
targets get it as it came (with the client's `anthropic-beta` header); every other provider gets the
chat request it stands for (messages_format.py) and its answer back as an Anthropic message or events.
"""

from __future__ import annotations

from gateways.ai import budgets, failover, pricing
from gateways.ai import messages_format as mf
from gateways.ai.errors import OpenAIError
from gateways.ai.event_streams import event_stream
from gateways.ai.messages_stream import ChatToMessages, NativeMessages
from gateways.ai.openai_api import _admit, _body, _headers, _merged, _prices, _record, _resolve, _translate
from gateways.ai.providers.anthropic import ERROR_STATUS
from gateways.ai.providers.base import (
    JSON,
    StreamTranslator,
    UpstreamRequest,
    usage_of,
)
from gateways.ai.routing import Candidate
from gateways.common.http import JSONResponse, Response
from gateways.common.router import GatewayRequest
from gateways.guardrails import messages as guardrails
from promptgate.errors import ErrorCode, PromptGateError

NATIVE_PARAMETERS = ("temperature", "top_p")  # template defaults that mean the same to /messages


def error_response(exc: PromptGateError) -> JSONResponse:
    """Anthropic's error shape (plus PromptGate's `code`), so its SDK raises the right exception."""
    return JSONResponse(mf.error_body(exc), exc.status, dict(exc.headers))


async def handle(greq: GatewayRequest) -> Response:
    path, method = greq.tail.strip("/"), greq.request.method
    try:
        if path not in ("messages", "messages/count_tokens"):
            raise OpenAIError(f"Unknown endpoint /v1/{path}", code=ErrorCode.NOT_FOUND, status=404)
        if method != "POST":
            raise OpenAIError(
                f"Method {method} is not allowed here",
                code=ErrorCode.METHOD_NOT_ALLOWED,
                status=405,
                headers={"Allow": "POST"},
            )
        return await (create(greq) if path == "messages" else count_tokens(greq))
    except PromptGateError as exc:
        greq.log["error_code"] = exc.code
        return error_response(exc)


def _beta(greq: GatewayRequest) -> str:
    """The client's `anthropic-beta` header (the SDK's `betas=`): passed on to Anthropic upstreams,
    which understand it; translated providers never see it."""
    return greq.request.headers.get("anthropic-beta", "")


def _native(candidate: Candidate) -> bool:
    return bool(getattr(candidate.adapter, "messages_native", False))


async def create(greq: GatewayRequest) -> Response:
    body = await _body(greq)
    greq.log["endpoint"] = "messages"
    mf.check(body)
    rules = await guardrails.messages_input(greq, body)  # input guardrails: redact in place or 400
    stream = bool(body.get("stream"))
    chain = await _resolve(greq, body["model"])
    prices = await _prices(greq)
    estimate = {
        "input": [body.get("system"), body["messages"], body.get("tools")],
        "max_tokens": body["max_tokens"],
    }
    reservation = await _admit(greq, chain, estimate, prices)
    prompt_estimate, _ = budgets.estimate_tokens(estimate)

    beta = _beta(greq)

    def build(candidate: Candidate) -> UpstreamRequest:
        if _native(candidate):
            defaults = {k: v for k, v in candidate.parameters.items() if k in NATIVE_PARAMETERS}
            payload = {**defaults, **body}
            return candidate.adapter.messages_request(candidate.target, payload, stream=stream, beta=beta)  # type: ignore[attr-defined]  # _native(): a Messages-native adapter
        return candidate.adapter.chat_request(
            candidate.target, _merged(candidate, mf.to_chat(body)), stream=stream
        )

    def translator(candidate: Candidate) -> StreamTranslator:
        if _native(candidate):
            return NativeMessages(ERROR_STATUS)
        inner = candidate.adapter.stream_translator(candidate.target)
        return ChatToMessages(inner, candidate.target.model, prompt_estimate)

    try:
        if stream:
            opened = await failover.open_stream(greq, chain, build, translator)
        else:
            candidate, data = await failover.call_json(greq, chain, build)
            message = _answer(candidate, data)
    except BaseException:
        await reservation.settle(0, 0)
        raise
    if stream:
        return event_stream(
            greq,
            opened,
            reservation,
            prices,
            "messages",
            prompt_tokens=lambda: prompt_estimate,
            error_event=mf.error_body,
            guard=guardrails.MessagesStream.open(greq, rules),  # output guardrails: redact or refusal
        )
    usage = mf.usage_from(message)
    price = pricing.price_for(candidate.target.provider, candidate.target.model, prices)
    await reservation.settle(_record(greq, candidate, usage, price, "messages"), usage.total_tokens)
    message = guardrails.messages_output(greq, rules, message)  # redact, or withhold (refusal)
    return JSONResponse(message, headers=_headers(candidate, reservation))


def _answer(candidate: Candidate, data: JSON) -> JSON:
    if _native(candidate):
        if data.get("type") != "message" or not isinstance(data.get("content"), list):
            raise OpenAIError("upstream sent an invalid response", code=ErrorCode.UPSTREAM_ERROR, status=502)
        return data
    completion = _translate(lambda: candidate.adapter.chat_response(candidate.target, data))
    return mf.from_completion(completion, candidate.target.model, usage_of(completion))


async def count_tokens(greq: GatewayRequest) -> Response:
    """Anthropic counts natively; for other providers the gateway's estimate (~4 characters a token)."""
    body = await _body(greq)
    greq.log["endpoint"] = "messages.count_tokens"
    mf.check({**body, "max_tokens": 1})
    chain = await _resolve(greq, body["model"])
    first = chain[0]
    if _native(first):

        def build(candidate: Candidate) -> UpstreamRequest:
            payload = {k: v for k, v in body.items() if k != "max_tokens"}
            return candidate.adapter.count_tokens_request(candidate.target, payload, _beta(greq))  # type: ignore[attr-defined]  # a Messages-native adapter counts tokens

        _, data = await failover.call_json(greq, [first], build)
        tokens = data.get("input_tokens")
        if not isinstance(tokens, int):
            raise OpenAIError("upstream sent an invalid response", code=ErrorCode.UPSTREAM_ERROR, status=502)
    else:
        mf.to_chat({**body, "max_tokens": 1})  # refuses what the provider could not be sent
        tokens, _ = budgets.estimate_tokens(
            {"input": [body.get("system"), body["messages"], body.get("tools")]}
        )
    greq.log.update(
        {"provider": first.target.provider, "model": first.target.model[:120], "tokens_in": tokens}
    )
    return JSONResponse({"input_tokens": tokens}, headers={"X-PromptGate-Provider": first.target.provider})
