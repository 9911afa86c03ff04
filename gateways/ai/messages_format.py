"""Anthropic's Messages API shapes, and their translation to and from Chat Completions for providers
other than Anthropic: a Messages request becomes a chat request, the chat answer an Anthropic message.

Content handled: text, images (base64 and URL sources), `tool_use` and `tool_result` blocks, system as
a string or text blocks; `thinking` blocks are dropped (no other provider can read them).
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from gateways.ai.errors import OpenAIError, invalid_request
from gateways.ai.providers.base import JSON, Usage
from gateways.ai.providers.content import text_of

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}
# Anthropic's error type per status (its SDK picks the exception class from the status).
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def error_type(status: int) -> str:
    return ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


def new_id(prefix: str = "msg") -> str:
    return f"{prefix}_{secrets.token_hex(16)}"


def check(body: JSON) -> None:
    """Anthropic's own rules for the fields every request needs (its SDK always sends them)."""
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise invalid_request("max_tokens: a positive integer is required", param="max_tokens")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise invalid_request("messages: a non-empty array of messages is required", param="messages")


# --- Messages request → chat request ------------------------------------------------------------
def _image(block: JSON) -> JSON:
    source = block.get("source") or {}
    if source.get("type") == "base64":
        url = f"data:{source.get('media_type', 'image/png')};base64,{source.get('data', '')}"
    elif source.get("type") == "url":
        url = str(source.get("url", ""))
    else:
        raise invalid_request(
            f"image source {source.get('type')!r} is not supported for this model's provider"
        )
    return {"type": "image_url", "image_url": {"url": url}}


def _blocks(content: object) -> list[JSON]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if isinstance(content, list) and all(isinstance(b, dict) for b in content):
        return content
    raise invalid_request("message content must be a string or an array of content blocks", param="messages")


def _user(blocks: list[JSON], out: list[JSON]) -> None:
    parts: list[JSON] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "tool_result":
            result = text_of(block.get("content"))
            if block.get("is_error"):
                result = f"Error: {result}"
            out.append({"role": "tool", "tool_call_id": block.get("tool_use_id"), "content": result})
        elif kind == "text":
            parts.append({"type": "text", "text": str(block.get("text", ""))})
        elif kind == "image":
            parts.append(_image(block))
        elif kind in ("thinking", "redacted_thinking"):
            continue
        else:
            raise invalid_request(f"content block type {kind!r} is not supported for this model's provider")
    if parts:
        text_only = all(p["type"] == "text" for p in parts)
        out.append({"role": "user", "content": "".join(p["text"] for p in parts) if text_only else parts})


def _assistant(blocks: list[JSON], out: list[JSON]) -> None:
    text, calls = [], []
    for block in blocks:
        kind = block.get("type")
        if kind == "text":
            text.append(str(block.get("text", "")))
        elif kind == "tool_use":
            arguments = json.dumps(block.get("input") or {})
            function = {"name": block.get("name"), "arguments": arguments}
            calls.append({"id": block.get("id"), "type": "function", "function": function})
        elif kind in ("thinking", "redacted_thinking"):
            continue
        else:
            raise invalid_request(f"content block type {kind!r} is not supported for this model's provider")
    message: JSON = {"role": "assistant", "content": "".join(text) or None}
    if calls:
        message["tool_calls"] = calls
    out.append(message)


def _tools(tools: object) -> list[JSON]:
    out = []
    for tool in tools if isinstance(tools, list) else []:
        if (
            not isinstance(tool, dict)
            or "input_schema" not in tool
            or tool.get("type") not in (None, "custom")
        ):
            kind = tool.get("type") if isinstance(tool, dict) else tool
            raise invalid_request(
                f"tool type {kind!r} is served by Anthropic only, not this model's provider"
            )
        function = {"name": tool.get("name"), "parameters": tool.get("input_schema") or {"type": "object"}}
        if tool.get("description"):
            function["description"] = tool["description"]
        out.append({"type": "function", "function": function})
    return out


def _tool_choice(choice: object) -> object:
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind == "tool" and isinstance(choice, dict):
        return {"type": "function", "function": {"name": choice.get("name")}}
    return {"auto": "auto", "any": "required", "none": "none"}.get(str(kind))


def to_chat(body: JSON) -> JSON:
    messages: list[JSON] = []
    system = text_of(body.get("system"))
    if system:
        messages.append({"role": "system", "content": system})
    for message in body["messages"]:
        role = message.get("role")
        blocks = _blocks(message.get("content"))
        if role == "user":
            _user(blocks, messages)
        elif role == "assistant":
            _assistant(blocks, messages)
        else:
            raise invalid_request(f"messages: role {role!r} must be user or assistant", param="messages")
    chat: JSON = {"model": body["model"], "messages": messages, "max_tokens": body["max_tokens"]}
    tools = _tools(body.get("tools"))
    if tools:
        chat["tools"] = tools
        choice = body.get("tool_choice")
        if choice:
            mapped = _tool_choice(choice)
            if mapped is not None:
                chat["tool_choice"] = mapped
            if isinstance(choice, dict) and choice.get("disable_parallel_tool_use"):
                chat["parallel_tool_calls"] = False
    for key in ("temperature", "top_p"):
        if body.get(key) is not None:
            chat[key] = body[key]
    if body.get("stop_sequences"):
        chat["stop"] = list(body["stop_sequences"])
    user = (body.get("metadata") or {}).get("user_id") if isinstance(body.get("metadata"), dict) else None
    if user:
        chat["user"] = str(user)
    return chat


# --- chat answer → Anthropic message ------------------------------------------------------------
def usage_object(usage: Usage) -> JSON:
    return {"input_tokens": usage.prompt_tokens, "output_tokens": usage.completion_tokens}


def usage_from(message: JSON) -> Usage:
    usage = message.get("usage") or {}
    prompt = sum(
        int(usage.get(name) or 0)
        for name in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    )
    return Usage(prompt, int(usage.get("output_tokens") or 0))


def arguments(raw: object) -> Any:
    try:
        value = json.loads(str(raw or "{}"))
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def from_completion(completion: JSON, model: str, usage: Usage) -> JSON:
    choice = (completion.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    content: list[JSON] = []
    if isinstance(message.get("content"), str) and message["content"]:
        content.append({"type": "text", "text": message["content"]})
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        content.append(
            {
                "type": "tool_use",
                "id": str(call.get("id") or new_id("toolu")),
                "name": function.get("name"),
                "input": arguments(function.get("arguments")),
            }
        )
    return {
        "id": new_id(),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": STOP_REASONS.get(str(choice.get("finish_reason")), "end_turn"),
        "stop_sequence": None,
        "usage": usage_object(usage),
    }


def error_body(exc: OpenAIError | Any) -> JSON:
    status = int(getattr(exc, "status", 500))
    return {
        "type": "error",
        "error": {"type": error_type(status), "message": exc.message, "code": exc.code},
    }
