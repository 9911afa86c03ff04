"""The Responses API of an ai_gateway project: POST /v1/responses, GET/DELETE /v1/responses/{id},
GET /v1/responses/{id}/input_items.

A request goes the way of a chat completion (openai_api.py): model resolution, admission (limits and
budgets), failover, usage and cost, the request log. OpenAI targets get it natively (with `store` off
upstream: the gateway keeps the state); every other provider gets the chat request it stands for
(responses_format.py) and its answer back as a Response. `previous_response_id` continues a stored
response's conversation, whichever provider served it (responses_store.py).
"""

from __future__ import annotations

from gateways.ai import budgets, failover, pricing, responses_store
from gateways.ai import responses_format as rf
from gateways.ai.errors import OpenAIError, body_of, invalid_request
from gateways.ai.event_streams import event_stream
from gateways.ai.openai_api import _admit, _body, _headers, _merged, _prices, _record, _resolve, _translate
from gateways.ai.providers.base import (
    JSON,
    StreamTranslator,
    UpstreamRequest,
    usage_of,
)
from gateways.ai.responses_stream import FINAL_TYPES, ChatToResponses, NativeResponses
from gateways.ai.routing import Candidate
from gateways.common.http import JSONResponse, Response
from gateways.common.router import GatewayRequest
from gateways.guardrails import responses as guardrails
from promptgate.errors import ErrorCode

NATIVE_PARAMETERS = ("temperature", "top_p")  # template defaults that mean the same to /responses


async def dispatch(greq: GatewayRequest, path: str, method: str) -> Response:
    """`path` is what follows /v1/: responses, responses/{id}, responses/{id}/input_items."""
    parts = path.split("/")
    if parts == ["responses"]:
        _method(method, "POST")
        return await create(greq)
    if len(parts) == 2 and parts[1]:
        _method(method, "GET, DELETE")
        return await (retrieve(greq, parts[1]) if method == "GET" else delete(greq, parts[1]))
    if len(parts) == 3 and parts[1] and parts[2] == "input_items":
        _method(method, "GET")
        return await input_items(greq, parts[1])
    raise OpenAIError(f"Unknown endpoint /v1/{path}", code=ErrorCode.NOT_FOUND, status=404)


def _method(method: str, allowed: str) -> None:
    if method not in allowed.split(", "):
        raise OpenAIError(
            f"Method {method} is not allowed here",
            code=ErrorCode.METHOD_NOT_ALLOWED,
            status=405,
            headers={"Allow": allowed},
        )


def _native(candidate: Candidate) -> bool:
    return bool(getattr(candidate.adapter, "responses_native", False))


async def create(greq: GatewayRequest) -> Response:
    body = await _body(greq)
    greq.log["endpoint"] = "responses"
    if body.get("background"):
        raise invalid_request("background responses are not supported by the gateway", param="background")
    if body.get("input") is None:
        raise invalid_request("`input` is required", param="input")
    items = rf.input_items(body.get("input"))
    previous = body.get("previous_response_id")
    history: list[JSON] = []
    if previous is not None:
        stored = (
            await responses_store.load(greq.project.id, str(previous)) if isinstance(previous, str) else None
        )
        if stored is None:
            raise rf.not_found(str(previous), param="previous_response_id")
        history = stored.conversation()
    full = [*history, *items]
    rules = await guardrails.responses_input(greq, body, full)  # input guardrails: redact in place or 400
    store = body.get("store", True) is not False
    stream = bool(body.get("stream"))
    chain = await _resolve(greq, body["model"])
    prices = await _prices(greq)
    estimate = {"input": [body.get("instructions"), full], "max_tokens": body.get("max_output_tokens")}
    reservation = await _admit(greq, chain, estimate, prices)
    if store:
        responses_store.attach(greq.runtime)
    response_id = rf.new_id("resp")
    patch = {"store": store, "previous_response_id": previous}

    def build(candidate: Candidate) -> UpstreamRequest:
        if _native(candidate):
            defaults = {k: v for k, v in candidate.parameters.items() if k in NATIVE_PARAMETERS}
            payload = {**defaults, **rf.clean_request(body), "input": rf.for_upstream(full), "store": False}
            return candidate.adapter.responses_request(candidate.target, payload, stream=stream)  # type: ignore[attr-defined]  # a Responses-native adapter
        chat = _merged(candidate, rf.to_chat(body, full))
        return candidate.adapter.chat_request(candidate.target, chat, stream=stream)

    def translator(candidate: Candidate) -> StreamTranslator:
        if _native(candidate):
            return NativeResponses(candidate.target.provider, patch)
        inner = candidate.adapter.stream_translator(candidate.target)
        return ChatToResponses(inner, response_id, body, candidate.target.model)

    try:
        if stream:
            opened = await failover.open_stream(greq, chain, build, translator)
        else:
            candidate, data = await failover.call_json(greq, chain, build)
            response = _answer(candidate, data, response_id, body, patch)
    except BaseException:
        await reservation.settle(0, 0)
        raise
    if stream:

        async def save_final(batch: list[JSON]) -> None:
            final = next((e["response"] for e in batch if e.get("type") in FINAL_TYPES), None)
            if store and isinstance(final, dict):
                # Saved before the client sees the end, so its next turn finds this one.
                await responses_store.save(greq.project.id, final, full)

        return event_stream(
            greq,
            opened,
            reservation,
            prices,
            "responses",
            prompt_tokens=lambda: budgets.estimate_tokens(estimate)[0],
            error_event=_error_event,
            guard=guardrails.ResponsesStream.open(greq, rules),  # output guardrails: redact or content_filter
            on_batch=save_final,
        )
    usage = rf.usage_from(response)
    price = pricing.price_for(candidate.target.provider, candidate.target.model, prices)
    await reservation.settle(_record(greq, candidate, usage, price, "responses"), usage.total_tokens)
    response = guardrails.responses_output(greq, rules, response)  # redact, or withhold (content_filter)
    if store:
        await responses_store.save(greq.project.id, response, full)
    return JSONResponse(response, headers=_headers(candidate, reservation))


def _answer(candidate: Candidate, data: JSON, response_id: str, body: JSON, patch: JSON) -> JSON:
    if _native(candidate):
        if data.get("object") != "response" or not isinstance(data.get("output"), list):
            raise OpenAIError("upstream sent an invalid response", code=ErrorCode.UPSTREAM_ERROR, status=502)
        data.update(patch)
        return data
    completion = _translate(lambda: candidate.adapter.chat_response(candidate.target, data))
    return rf.from_completion(response_id, body, completion, usage_of(completion))


def _error_event(error: OpenAIError) -> JSON:
    return {"type": "error", "code": error.code, "message": body_of(error)["error"]["message"], "param": None}


async def _stored(greq: GatewayRequest, response_id: str) -> responses_store.Stored:
    stored = await responses_store.load(greq.project.id, response_id)
    if stored is None:
        raise rf.not_found(response_id)
    return stored


async def retrieve(greq: GatewayRequest, response_id: str) -> Response:
    greq.log["endpoint"] = "responses.get"
    return JSONResponse((await _stored(greq, response_id)).response)


async def input_items(greq: GatewayRequest, response_id: str) -> Response:
    greq.log["endpoint"] = "responses.input_items"
    items = [dict(item) for item in (await _stored(greq, response_id)).input]
    for position, item in enumerate(items):
        item.setdefault("id", f"item_{position}")
        item.setdefault("type", "message")
    if greq.request.query_string.find(b"order=asc") == -1:
        items.reverse()  # OpenAI lists input items newest first unless asked otherwise
    first, last = (items[0]["id"], items[-1]["id"]) if items else (None, None)
    return JSONResponse(
        {"object": "list", "data": items, "first_id": first, "last_id": last, "has_more": False}
    )


async def delete(greq: GatewayRequest, response_id: str) -> Response:
    greq.log["endpoint"] = "responses.delete"
    if not await responses_store.delete(greq.project.id, response_id):
        raise rf.not_found(response_id)
    return JSONResponse({"id": response_id, "object": "response.deleted", "deleted": True})
