"""The Responses API's shapes, and their translation to and from Chat Completions for providers that
have no Responses API: a Responses request becomes a chat request, the chat answer becomes a Response.

Input items handled: messages (text, images), `function_call` and `function_call_output` (as the
assistant's tool calls and `tool` messages), `reasoning` (dropped: no other provider can read it).
Tools: `function` only; built-in tools (web search, file search, …) exist upstream at OpenAI only.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from gateways.ai.errors import OpenAIError, invalid_request
from gateways.ai.providers.base import JSON, Usage
from promptgate.errors import ErrorCode

# Request fields that mean something to the gateway only, or to OpenAI's own Responses API only.
GATEWAY_FIELDS = ("previous_response_id", "store", "include", "truncation", "background", "conversation")
ECHOED = ("instructions", "max_output_tokens", "metadata", "parallel_tool_calls", "temperature", "top_p")


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(24)}"


def input_items(value: object) -> list[JSON]:
    """`input` as a list of items: a string is one user message."""
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        return list(value)
    raise invalid_request("`input` must be a string or an array of input items", param="input")


def for_upstream(items: list[JSON]) -> list[JSON]:
    """History items as input to OpenAI with store off: no item ids (they name nothing stored there),
    no reasoning items (they need encrypted content that a stateless call does not get back)."""
    out = []
    for item in items:
        if item.get("type") == "reasoning":
            continue
        out.append({k: v for k, v in item.items() if k not in ("id", "status")} if "id" in item else item)
    return out


# --- Responses request → chat request ------------------------------------------------------------
def _part(part: object) -> JSON:
    if not isinstance(part, dict):
        raise invalid_request("content parts must be objects", param="input")
    kind = part.get("type")
    if kind in ("input_text", "output_text", "text"):
        return {"type": "text", "text": str(part.get("text", ""))}
    if kind == "refusal":
        return {"type": "text", "text": str(part.get("refusal", ""))}
    if kind == "input_image":
        url = part.get("image_url")
        if not isinstance(url, str) or not url:
            raise invalid_request(
                "input_image needs an image_url (file ids exist at OpenAI only)", param="input"
            )
        return {"type": "image_url", "image_url": {"url": url, "detail": part.get("detail") or "auto"}}
    raise invalid_request(f"Content type {kind!r} is not supported for this model's provider", param="input")


def _content(content: object) -> str | list[JSON]:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [_part(part) for part in content]
        if all(p["type"] == "text" for p in parts):
            return "".join(p["text"] for p in parts)
        return parts
    raise invalid_request("message content must be a string or an array of parts", param="input")


def _output_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(str(p.get("text", "")) for p in value if isinstance(p, dict))
    return str(value or "")


def to_chat_messages(instructions: object, items: list[JSON]) -> list[JSON]:
    messages: list[JSON] = []
    if isinstance(instructions, str) and instructions:
        messages.append({"role": "system", "content": instructions})
    for item in items:
        kind = item.get("type") or "message"
        if kind == "message":
            role = item.get("role")
            if role not in ("user", "assistant", "system", "developer"):
                raise invalid_request(f"Message role {role!r} is not supported", param="input")
            messages.append({"role": role, "content": _content(item.get("content"))})
        elif kind == "function_call":
            call = {
                "id": item.get("call_id"),
                "type": "function",
                "function": {"name": item.get("name"), "arguments": item.get("arguments") or "{}"},
            }
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant" and not isinstance(last["content"], list):
                last.setdefault("tool_calls", []).append(call)  # one turn: text and calls together
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            content = _output_text(item.get("output"))
            messages.append({"role": "tool", "tool_call_id": item.get("call_id"), "content": content})
        elif kind == "reasoning":
            continue
        else:
            raise invalid_request(
                f"Input item type {kind!r} is not supported for this model's provider", param="input"
            )
    return messages


def _tools(tools: object) -> list[JSON]:
    out = []
    for tool in tools if isinstance(tools, list) else []:
        if not isinstance(tool, dict) or tool.get("type") != "function":
            kind = tool.get("type") if isinstance(tool, dict) else tool
            raise invalid_request(
                f"Tool type {kind!r} is served by OpenAI's Responses API only, not this model's provider",
                param="tools",
            )
        function = {"name": tool.get("name"), "parameters": tool.get("parameters") or {"type": "object"}}
        for key in ("description", "strict"):
            if tool.get(key) is not None:
                function[key] = tool[key]
        out.append({"type": "function", "function": function})
    return out


def _tool_choice(choice: object) -> object:
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"type": "function", "function": {"name": choice.get("name")}}
    return choice


def _response_format(text: object) -> JSON | None:
    fmt = text.get("format") if isinstance(text, dict) else None
    if not isinstance(fmt, dict) or fmt.get("type") in (None, "text"):
        return None
    if fmt.get("type") == "json_object":
        return {"type": "json_object"}
    if fmt.get("type") == "json_schema":
        spec = {k: fmt[k] for k in ("name", "schema", "strict", "description") if fmt.get(k) is not None}
        return {"type": "json_schema", "json_schema": spec}
    raise invalid_request(f"text.format type {fmt.get('type')!r} is not supported", param="text.format")


def to_chat(body: JSON, items: list[JSON]) -> JSON:
    """The chat request a Responses request stands for (`model` kept as sent; resolved later)."""
    chat: JSON = {"model": body["model"], "messages": to_chat_messages(body.get("instructions"), items)}
    tools = _tools(body.get("tools"))
    if tools:
        chat["tools"] = tools
        if body.get("tool_choice") is not None:
            chat["tool_choice"] = _tool_choice(body["tool_choice"])
        if body.get("parallel_tool_calls") is not None:
            chat["parallel_tool_calls"] = body["parallel_tool_calls"]
    response_format = _response_format(body.get("text"))
    if response_format:
        chat["response_format"] = response_format
    if body.get("max_output_tokens"):
        chat["max_tokens"] = body["max_output_tokens"]
    for key in ("temperature", "top_p"):
        if body.get(key) is not None:
            chat[key] = body[key]
    user = body.get("safety_identifier") or body.get("user")
    if user:
        chat["user"] = user
    return chat


# --- chat answer → Response ----------------------------------------------------------------------
def usage_object(usage: Usage) -> JSON:
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.total_tokens,
    }


def usage_from(response: JSON) -> Usage:
    usage = response.get("usage") or {}
    return Usage(int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0))


def message_item(item_id: str, text: str, status: str = "completed") -> JSON:
    content = [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
    return {"type": "message", "id": item_id, "status": status, "role": "assistant", "content": content}


def call_item(item_id: str, call_id: str, name: str, arguments: str, status: str = "completed") -> JSON:
    return {
        "type": "function_call",
        "id": item_id,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    }


def skeleton(response_id: str, body: JSON, model: str, status: str = "in_progress") -> JSON:
    """A Response object without output: what `response.created` carries, and the frame of the final one."""
    text = body.get("text") if isinstance(body.get("text"), dict) else {"format": {"type": "text"}}
    response: JSON = {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "error": None,
        "incomplete_details": None,
        "model": model,
        "output": [],
        "previous_response_id": body.get("previous_response_id"),
        "store": body.get("store", True) is not False,
        "text": text,
        "tool_choice": body.get("tool_choice") or "auto",
        "tools": body.get("tools") or [],
        "truncation": "disabled",
        "usage": None,
    }
    for key in ECHOED:
        response[key] = body.get(key)
    response["metadata"] = response["metadata"] or {}
    response["parallel_tool_calls"] = response["parallel_tool_calls"] is not False
    return response


def finish(response: JSON, output: list[JSON], usage: Usage, finish_reason: str | None) -> JSON:
    response["output"] = output
    response["usage"] = usage_object(usage)
    if finish_reason == "length":
        response["status"] = "incomplete"
        response["incomplete_details"] = {"reason": "max_output_tokens"}
    elif finish_reason == "content_filter":
        response["status"] = "incomplete"
        response["incomplete_details"] = {"reason": "content_filter"}
    else:
        response["status"] = "completed"
    return response


def from_completion(response_id: str, body: JSON, completion: JSON, usage: Usage) -> JSON:
    choice = (completion.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    output: list[JSON] = []
    text = message.get("content")
    if isinstance(text, str) and text:
        output.append(message_item(new_id("msg"), text))
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        call_id = str(call.get("id") or new_id("call"))
        output.append(
            call_item(new_id("fc"), call_id, str(function.get("name")), str(function.get("arguments") or ""))
        )
    model = str(completion.get("model") or body.get("model"))
    return finish(skeleton(response_id, body, model), output, usage, choice.get("finish_reason"))


def not_found(response_id: str, param: str | None = None) -> OpenAIError:
    return OpenAIError(
        f"Response with id {response_id!r} not found",
        code=ErrorCode.RESPONSE_NOT_FOUND,
        status=404,
        param=param,
    )


def output_text(response: JSON) -> str:
    return "".join(
        part.get("text", "")
        for item in response.get("output") or []
        if item.get("type") == "message"
        for part in item.get("content") or []
        if part.get("type") == "output_text"
    )


def clean_request(body: JSON) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in GATEWAY_FIELDS}
