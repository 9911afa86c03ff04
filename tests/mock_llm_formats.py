"""What the mock LLM answers, and in which provider's words: OpenAI, Anthropic and Gemini shapes."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

JSON = dict[str, Any]
PIECES = 3  # a tool call's arguments stream in this many pieces


@dataclass
class Reply:
    """One answer, provider-neutral: text or a tool call, and its token counts."""

    text: str | None
    tool_name: str | None = None
    tool_args: JSON | None = None
    prompt_tokens: int = 1
    output_tokens: int | None = None  # the completion count to report; None: counted from the answer

    @property
    def completion_tokens(self) -> int:
        if self.output_tokens is not None:
            return self.output_tokens
        if self.tool_name:
            return len(json.dumps(self.tool_args).split()) + 1
        return max(1, len((self.text or "").split()))

    def pieces(self) -> list[str]:
        """The text in streamable pieces: word by word, spaces kept."""
        words = (self.text or "").split(" ")
        return [word if i == 0 else f" {word}" for i, word in enumerate(words)]

    def arg_pieces(self) -> list[str]:
        raw = json.dumps(self.tool_args or {})
        size = max(1, len(raw) // PIECES + 1)
        return [raw[i : i + size] for i in range(0, len(raw), size)]


def sample(schema: Any) -> Any:
    """A value valid for a simple JSON schema (the mock's 'structured output')."""
    if not isinstance(schema, dict):
        return "example"
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if schema.get("enum"):
        return schema["enum"][0]
    if kind == "object" or "properties" in schema:
        return {name: sample(sub) for name, sub in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [sample(schema.get("items"))]
    if kind in ("integer", "INTEGER"):
        return 42
    if kind in ("number", "NUMBER"):
        return 4.2
    if kind in ("boolean", "BOOLEAN"):
        return True
    if kind in ("object", "OBJECT"):
        return {}
    return "example"


def count_words(value: Any) -> int:
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        return sum(count_words(v) for v in value)
    if isinstance(value, dict):
        return sum(count_words(v) for k, v in value.items() if k in ("content", "text", "parts"))
    return 0


def vector(text: str, dims: int = 8) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [round(digest[i % len(digest)] / 255, 6) for i in range(dims)]


# --- OpenAI -------------------------------------------------------------------------------------


def openai_error(status: int, message: str, kind: str, code: str | None = None) -> JSON:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def openai_message(reply: Reply) -> JSON:
    if reply.tool_name:
        call = {
            "id": "call_mock_1",
            "type": "function",
            "function": {"name": reply.tool_name, "arguments": json.dumps(reply.tool_args)},
        }
        return {"role": "assistant", "content": None, "tool_calls": [call], "refusal": None}
    return {"role": "assistant", "content": reply.text, "refusal": None}


def openai_usage(reply: Reply) -> JSON:
    total = reply.prompt_tokens + reply.completion_tokens
    return {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": total,
    }


def openai_completion(model: str, reply: Reply, n: int = 1) -> JSON:
    reason = "tool_calls" if reply.tool_name else "stop"
    choices = [
        {"index": i, "message": openai_message(reply), "logprobs": None, "finish_reason": reason}
        for i in range(n)
    ]
    return {
        "id": "chatcmpl-mock",
        "object": "chat.completion",
        "created": 1700000000,
        "model": model,
        "choices": choices,
        "usage": openai_usage(reply),
        "system_fingerprint": "fp_mock",
    }


def openai_chunks(model: str, reply: Reply, include_usage: bool, n: int = 1) -> list[JSON]:
    def chunk(index: int, delta: JSON, reason: str | None = None) -> JSON:
        base = {
            "id": "chatcmpl-mock",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": model,
        }
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": reason}
        return {**base, "choices": [choice], **({"usage": None} if include_usage else {})}

    out = []
    for i in range(n):
        out.append(chunk(i, {"role": "assistant", "content": ""}))
        if reply.tool_name:
            first = {"index": 0, "id": "call_mock_1", "type": "function"}
            out.append(
                chunk(i, {"tool_calls": [{**first, "function": {"name": reply.tool_name, "arguments": ""}}]})
            )
            for piece in reply.arg_pieces():
                out.append(chunk(i, {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}))
            out.append(chunk(i, {}, "tool_calls"))
        else:
            out.extend(chunk(i, {"content": piece}) for piece in reply.pieces())
            out.append(chunk(i, {}, "stop"))
    if include_usage:
        last = {
            "id": "chatcmpl-mock",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": model,
        }
        out.append({**last, "choices": [], "usage": openai_usage(reply)})
    return out


# --- Anthropic ----------------------------------------------------------------------------------


def anthropic_error(message: str, kind: str) -> JSON:
    return {"type": "error", "error": {"type": kind, "message": message}}


def anthropic_message(model: str, reply: Reply) -> JSON:
    if reply.tool_name:
        content = [
            {"type": "tool_use", "id": "toolu_mock_1", "name": reply.tool_name, "input": reply.tool_args}
        ]
        stop = "tool_use"
    else:
        content, stop = [{"type": "text", "text": reply.text}], "end_turn"
    return {
        "id": "msg_mock",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": reply.prompt_tokens, "output_tokens": reply.completion_tokens},
    }


def anthropic_events(model: str, reply: Reply) -> list[tuple[str, JSON]]:
    message = {**anthropic_message(model, reply), "content": [], "stop_reason": None}
    message["usage"] = {"input_tokens": reply.prompt_tokens, "output_tokens": 1}
    events: list[tuple[str, JSON]] = [("message_start", {"type": "message_start", "message": message})]
    events.append(("ping", {"type": "ping"}))
    if reply.tool_name:
        block = {"type": "tool_use", "id": "toolu_mock_1", "name": reply.tool_name, "input": {}}
        events.append(
            ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": block})
        )
        for piece in reply.arg_pieces():
            delta = {"type": "input_json_delta", "partial_json": piece}
            events.append(
                ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
            )
        stop = "tool_use"
    else:
        block = {"type": "text", "text": ""}
        events.append(
            ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": block})
        )
        for piece in reply.pieces():
            delta = {"type": "text_delta", "text": piece}
            events.append(
                ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
            )
        stop = "end_turn"
    events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
    final = {"stop_reason": stop, "stop_sequence": None}
    usage = {"output_tokens": reply.completion_tokens}
    events.append(("message_delta", {"type": "message_delta", "delta": final, "usage": usage}))
    events.append(("message_stop", {"type": "message_stop"}))
    return events


# --- Gemini -------------------------------------------------------------------------------------


def gemini_error(status: int, message: str, kind: str) -> JSON:
    return {"error": {"code": status, "message": message, "status": kind}}


def gemini_usage(reply: Reply) -> JSON:
    total = reply.prompt_tokens + reply.completion_tokens
    return {
        "promptTokenCount": reply.prompt_tokens,
        "candidatesTokenCount": reply.completion_tokens,
        "totalTokenCount": total,
    }


def gemini_parts(reply: Reply) -> list[JSON]:
    if reply.tool_name:
        return [{"functionCall": {"name": reply.tool_name, "args": reply.tool_args}}]
    return [{"text": reply.text}]


def gemini_response(model: str, reply: Reply, candidates: int = 1) -> JSON:
    return {
        "candidates": [
            {"content": {"role": "model", "parts": gemini_parts(reply)}, "finishReason": "STOP", "index": i}
            for i in range(candidates)
        ],
        "usageMetadata": gemini_usage(reply),
        "modelVersion": model,
        "responseId": "gemini-mock",
    }


def gemini_stream(model: str, reply: Reply) -> list[JSON]:
    pieces = [[{"text": piece}] for piece in reply.pieces()] if not reply.tool_name else [gemini_parts(reply)]
    out = []
    for i, parts in enumerate(pieces):
        candidate: JSON = {"content": {"role": "model", "parts": parts}, "index": 0}
        if i == len(pieces) - 1:
            candidate["finishReason"] = "STOP"
        out.append(
            {
                "candidates": [candidate],
                "usageMetadata": {**gemini_usage(reply), "candidatesTokenCount": i + 1},
                "modelVersion": model,
                "responseId": "gemini-mock",
            }
        )
    out[-1]["usageMetadata"] = gemini_usage(reply)
    return out
