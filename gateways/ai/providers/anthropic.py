"""Anthropic's Messages API, translated both ways from and to OpenAI's Chat Completions format."""

from __future__ import annotations

import json
import re
import secrets

from gateways.ai.providers import errors
from gateways.ai.providers.anthropic_stream import JSON_TOOL, AnthropicStreamTranslator, finish_reason
from gateways.ai.providers.base import (
    JSON,
    ProviderFailure,
    Target,
    UpstreamRequest,
    Usage,
)
from gateways.ai.providers.content import bad_request, image_url, text_of
from gateways.ai.providers.sse import completion

DEFAULT_MAX_TOKENS = 4096  # required by Anthropic, optional in OpenAI's format
API_VERSION = "2023-06-01"
JSON_INSTRUCTION = "Answer with a single JSON object only: no prose, no code fences."
# Anthropic's error types and the status each stands for (in-stream errors carry only the type).
ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


def _image(part: JSON) -> JSON:
    url = image_url(part)
    if url.startswith("data:"):
        media_type, _, data = url[5:].partition(";base64,")
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _user_blocks(content: object) -> list[JSON]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    blocks: list[JSON] = []
    for part in content if isinstance(content, list) else []:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            blocks.append({"type": "text", "text": str(part.get("text", ""))})
        elif kind == "image_url":
            blocks.append(_image(part))
        else:
            raise bad_request(f"Content part type {kind!r} is not supported by anthropic")
    return blocks


def _arguments(raw: object) -> JSON:
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(str(raw or "{}"))
    except ValueError as exc:
        raise bad_request("Tool call arguments must be a JSON object") from exc
    if not isinstance(value, dict):
        raise bad_request("Tool call arguments must be a JSON object")
    return value


def _assistant_blocks(message: JSON) -> list[JSON]:
    blocks: list[JSON] = []
    text = text_of(message.get("content"))
    if text:
        blocks.append({"type": "text", "text": text})
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        blocks.append(
            {
                "type": "tool_use",
                "id": call.get("id"),
                "name": function.get("name"),
                "input": _arguments(function.get("arguments")),
            }
        )
    return blocks


def convert_messages(messages: list[JSON]) -> tuple[str, list[JSON]]:
    """(system prompt, Anthropic messages): system messages lifted out, tool results as user blocks."""
    system: list[str] = []
    out: list[JSON] = []

    def append(role: str, blocks: list[JSON]) -> None:
        # Consecutive same-role turns merge: several tool results answer one assistant turn together.
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        elif blocks:
            out.append({"role": role, "content": blocks})

    for message in messages:
        role = message.get("role")
        if role in ("system", "developer"):
            system.append(text_of(message.get("content")))
        elif role == "user":
            append("user", _user_blocks(message.get("content")))
        elif role == "assistant":
            append("assistant", _assistant_blocks(message))
        elif role == "tool":
            result = {
                "type": "tool_result",
                "tool_use_id": message.get("tool_call_id"),
                "content": text_of(message.get("content")),
            }
            append("user", [result])
        else:
            raise bad_request(f"Message role {role!r} is not supported by anthropic")
    return "\n\n".join(part for part in system if part), out


def _tool_choice(choice: object) -> JSON | None:
    if choice == "auto":
        return {"type": "auto"}
    if choice == "required":
        return {"type": "any"}
    if choice == "none":
        return {"type": "none"}
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if name:
            return {"type": "tool", "name": name}
    return None


def _tools(body: JSON) -> list[JSON]:
    tools = []
    for tool in body.get("tools") or []:
        if tool.get("type", "function") != "function":
            raise bad_request(f"Tool type {tool.get('type')!r} is not supported by anthropic")
        function = tool.get("function") or {}
        entry = {
            "name": function.get("name"),
            "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
        }
        if function.get("description"):
            entry["description"] = function["description"]
        tools.append(entry)
    return tools


def _apply_response_format(payload: JSON, response_format: object, system: str) -> str:
    """json_schema: a forced tool whose input is the answer (instructions when tools are present)."""
    if not isinstance(response_format, dict):
        return system
    kind = response_format.get("type")
    if kind == "json_schema":
        spec = response_format.get("json_schema") or {}
        schema = spec.get("schema") or {"type": "object"}
        if not payload.get("tools"):
            description = spec.get("description") or "Give the answer, as this tool's input."
            payload["tools"] = [{"name": JSON_TOOL, "description": description, "input_schema": schema}]
            payload["tool_choice"] = {"type": "tool", "name": JSON_TOOL}
            return system
        instruction = f"{JSON_INSTRUCTION} It must match this JSON schema: {json.dumps(schema)}"
        return f"{system}\n\n{instruction}".strip()
    if kind == "json_object":
        return f"{system}\n\n{JSON_INSTRUCTION}".strip()
    return system


def build_payload(target: Target, body: JSON, stream: bool) -> JSON:
    if body.get("n") not in (None, 1):
        raise bad_request("n > 1 is not supported by anthropic")
    system, messages = convert_messages(list(body.get("messages") or []))
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or DEFAULT_MAX_TOKENS
    payload: JSON = {"model": target.model, "messages": messages, "max_tokens": max_tokens}
    if body.get("temperature") is not None:
        payload["temperature"] = min(float(body["temperature"]), 1.0)  # Anthropic's range is 0..1
    if body.get("top_p") is not None:
        payload["top_p"] = body["top_p"]
    stop = body.get("stop")
    if stop:
        payload["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if body.get("user"):
        payload["metadata"] = {"user_id": str(body["user"])}
    tools = _tools(body)
    if tools:
        payload["tools"] = tools
        choice = _tool_choice(body.get("tool_choice"))
        if choice:
            payload["tool_choice"] = choice
        if body.get("parallel_tool_calls") is False:
            payload.setdefault("tool_choice", {"type": "auto"})["disable_parallel_tool_use"] = True
    system = _apply_response_format(payload, body.get("response_format"), system)
    if system:
        payload["system"] = system
    if stream:
        payload["stream"] = True
    return payload


def anthropic_usage(usage: object) -> Usage:
    if not isinstance(usage, dict):
        return Usage()
    prompt = sum(
        int(usage.get(name) or 0)
        for name in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    )
    return Usage(prompt, int(usage.get("output_tokens") or 0))


def to_completion(data: JSON) -> JSON:
    text, calls, forced = [], [], False
    for block in data.get("content") or []:
        if block.get("type") == "text":
            text.append(block.get("text", ""))
        elif block.get("type") == "tool_use" and block.get("name") == JSON_TOOL:
            forced = True
            text.append(json.dumps(block.get("input") or {}))
        elif block.get("type") == "tool_use":
            arguments = json.dumps(block.get("input") or {})
            function = {"name": block.get("name"), "arguments": arguments}
            calls.append({"id": block.get("id"), "type": "function", "function": function})
    message: JSON = {"role": "assistant", "content": "".join(text) if text or not calls else None}
    if calls:
        message["tool_calls"] = calls
    reason = "stop" if forced else finish_reason(data.get("stop_reason"))
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": reason}
    response_id = str(data.get("id") or f"chatcmpl-{secrets.token_hex(12)}")
    return completion(response_id, str(data.get("model", "")), [choice], anthropic_usage(data.get("usage")))


def error_from_body(status: int, body: bytes) -> ProviderFailure:
    data = errors.parse_json(body)
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        return errors.build("anthropic", status, error.get("message"), error.get("type"))
    return errors.build("anthropic", status, None)


BETA_NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
MAX_BETAS = 32


def merge_betas(*values: str) -> str:
    """`anthropic-beta` values (comma-separated feature names: the credential's option, the client's
    header) as one header value: each name once, in order; anything that is not a feature name is
    dropped, so a client cannot smuggle other text into the upstream request's headers."""
    names: list[str] = []
    for value in values:
        for name in value.split(","):
            name = name.strip()
            if BETA_NAME.match(name) and name not in names and len(names) < MAX_BETAS:
                names.append(name)
    return ",".join(names)


class AnthropicAdapter:
    name = "anthropic"
    default_base_url = "https://api.anthropic.com"
    key_pattern = re.compile(r"sk-ant-[A-Za-z0-9_\-]{20,200}")

    def _url(self, target: Target, endpoint: str) -> str:
        base = (target.base_url or self.default_base_url).rstrip("/")
        return f"{base}/{endpoint}" if base.endswith("/v1") else f"{base}/v1/{endpoint}"

    def _headers(self, target: Target, beta: str = "") -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "x-api-key": target.api_key,
            "anthropic-version": str(target.options.get("anthropic_version") or API_VERSION),
        }
        betas = merge_betas(str(target.options.get("anthropic_beta") or ""), beta)
        if betas:
            headers["anthropic-beta"] = betas
        return headers

    def chat_request(self, target: Target, body: JSON, *, stream: bool) -> UpstreamRequest:
        payload = build_payload(target, body, stream)
        return UpstreamRequest("POST", self._url(target, "messages"), self._headers(target), payload)

    def chat_response(self, target: Target, data: JSON) -> JSON:
        return to_completion(data)

    messages_native = True  # the Messages API is this provider's own: /v1/messages goes as it came

    def messages_request(
        self, target: Target, body: JSON, *, stream: bool, beta: str = ""
    ) -> UpstreamRequest:
        """A Messages API request as the client sent it; `beta`: the client's `anthropic-beta` header."""
        payload = {**body, "model": target.model}
        if stream:
            payload["stream"] = True
        else:
            payload.pop("stream", None)
        return UpstreamRequest("POST", self._url(target, "messages"), self._headers(target, beta), payload)

    def count_tokens_request(self, target: Target, body: JSON, beta: str = "") -> UpstreamRequest:
        payload = {**body, "model": target.model}
        return UpstreamRequest(
            "POST", self._url(target, "messages/count_tokens"), self._headers(target, beta), payload
        )

    def stream_translator(self, target: Target) -> AnthropicStreamTranslator:
        return AnthropicStreamTranslator(target.model, ERROR_STATUS)

    def embeddings_request(self, target: Target, body: JSON) -> UpstreamRequest:
        raise NotImplementedError("anthropic has no embeddings API")

    def embeddings_response(self, target: Target, data: JSON) -> JSON:
        raise NotImplementedError("anthropic has no embeddings API")

    def models_request(self, target: Target) -> UpstreamRequest:
        headers = {k: v for k, v in self._headers(target).items() if k != "Content-Type"}
        return UpstreamRequest("GET", self._url(target, "models"), headers)

    def error(self, status: int, body: bytes) -> ProviderFailure:
        return error_from_body(status, body)

    def validate_api_key(self, api_key: str) -> bool:
        return bool(self.key_pattern.fullmatch(api_key))
