"""What the mock LLM answers on OpenAI's Responses API (/v1/responses): a Response object, or its events."""

from __future__ import annotations

import json
import secrets
from typing import Any

from tests.mock_llm_formats import JSON, Reply


def as_messages(body: JSON) -> list[JSON]:
    """Responses input as chat-like messages, for the mock's reply logic (the last user text)."""
    value = body.get("input")
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    return [item for item in value or [] if isinstance(item, dict) and item.get("role")]


def tools_of(body: JSON) -> list[JSON]:
    return [t for t in body.get("tools") or [] if t.get("type") == "function"]


def schema_of(body: JSON) -> tuple[Any, bool]:
    fmt = (body.get("text") or {}).get("format") or {}
    return (fmt.get("schema") if fmt.get("type") == "json_schema" else None), fmt.get("type") == "json_object"


def _items(reply: Reply) -> list[JSON]:
    if reply.tool_name:
        return [
            {
                "type": "function_call",
                "id": "fc_mock_1",
                "call_id": "call_mock_1",
                "name": reply.tool_name,
                "arguments": json.dumps(reply.tool_args),
                "status": "completed",
            }
        ]
    part = {"type": "output_text", "text": reply.text, "annotations": []}
    return [
        {"type": "message", "id": "msg_mock_1", "status": "completed", "role": "assistant", "content": [part]}
    ]


def response_object(model: str, reply: Reply, body: JSON, status: str = "completed") -> JSON:
    usage = {
        "input_tokens": reply.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": reply.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
    }
    return {
        "id": f"resp_mock_{secrets.token_hex(8)}",
        "object": "response",
        "created_at": 1700000000,
        "status": status,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "model": model,
        "output": _items(reply) if status == "completed" else [],
        "parallel_tool_calls": True,
        "previous_response_id": body.get("previous_response_id"),
        "store": body.get("store", True),
        "temperature": body.get("temperature"),
        "text": body.get("text") or {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice") or "auto",
        "tools": body.get("tools") or [],
        "top_p": body.get("top_p"),
        "truncation": "disabled",
        "usage": usage if status == "completed" else None,
        "metadata": body.get("metadata") or {},
    }


def response_events(model: str, reply: Reply, body: JSON) -> list[JSON]:
    final = response_object(model, reply, body)
    start = {**final, "status": "in_progress", "output": [], "usage": None}
    events: list[JSON] = [
        {"type": "response.created", "response": start},
        {"type": "response.in_progress", "response": start},
    ]
    item = final["output"][0]
    if reply.tool_name:
        events.append(
            {"type": "response.output_item.added", "output_index": 0, "item": {**item, "arguments": ""}}
        )
        for piece in reply.arg_pieces():
            events.append(
                {
                    "type": "response.function_call_arguments.delta",
                    "item_id": item["id"],
                    "output_index": 0,
                    "delta": piece,
                }
            )
        events.append(
            {
                "type": "response.function_call_arguments.done",
                "item_id": item["id"],
                "output_index": 0,
                "arguments": item["arguments"],
            }
        )
    else:
        events.append(
            {"type": "response.output_item.added", "output_index": 0, "item": {**item, "content": []}}
        )
        empty = {"type": "output_text", "text": "", "annotations": []}
        where = {"item_id": item["id"], "output_index": 0, "content_index": 0}
        events.append({"type": "response.content_part.added", **where, "part": empty})
        for piece in reply.pieces():
            events.append({"type": "response.output_text.delta", **where, "delta": piece, "logprobs": []})
        events.append({"type": "response.output_text.done", **where, "text": reply.text, "logprobs": []})
        events.append({"type": "response.content_part.done", **where, "part": item["content"][0]})
    events.append({"type": "response.output_item.done", "output_index": 0, "item": item})
    events.append({"type": "response.completed", "response": final})
    for number, event in enumerate(events):
        event["sequence_number"] = number
    return events
