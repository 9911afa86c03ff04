"""Gemini's GenerateContentResponse (whole, or as SSE events) as OpenAI completions and chunks."""

from __future__ import annotations

import json
import secrets

from gateways.ai.providers import errors
from gateways.ai.providers.base import JSON, AdapterError, Usage
from gateways.ai.providers.sse import JSONEventStream, chunk, completion, now, usage_chunk

FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}


def gemini_usage(data: JSON) -> Usage | None:
    meta = data.get("usageMetadata")
    if not isinstance(meta, dict):
        return None
    completion_tokens = int(meta.get("candidatesTokenCount") or 0) + int(meta.get("thoughtsTokenCount") or 0)
    return Usage(int(meta.get("promptTokenCount") or 0), completion_tokens)


def _call_id() -> str:
    return f"call_{secrets.token_hex(12)}"


def split_parts(parts: list[JSON]) -> tuple[str, list[JSON]]:
    """(text, OpenAI tool calls) of a candidate's parts; thought parts are not part of the answer."""
    text, calls = [], []
    for part in parts:
        if part.get("thought"):
            continue
        if "text" in part:
            text.append(str(part["text"]))
        elif isinstance(part.get("functionCall"), dict):
            call = part["functionCall"]
            arguments = json.dumps(call.get("args") or {})
            calls.append(
                {
                    "id": str(call.get("id") or _call_id()),
                    "type": "function",
                    "function": {"name": call.get("name"), "arguments": arguments},
                }
            )
    return "".join(text), calls


def finish_reason(raw: object, has_calls: bool) -> str:
    reason = FINISH_REASONS.get(str(raw), "stop")
    return "tool_calls" if has_calls and reason == "stop" else reason


def to_completion(model: str, data: JSON) -> JSON:
    choices = []
    for position, candidate in enumerate(data.get("candidates") or []):
        text, calls = split_parts((candidate.get("content") or {}).get("parts") or [])
        message: JSON = {"role": "assistant", "content": text if text or not calls else None}
        if calls:
            message["tool_calls"] = calls
        reason = finish_reason(candidate.get("finishReason"), bool(calls))
        index = int(candidate.get("index", position))
        choices.append({"index": index, "message": message, "logprobs": None, "finish_reason": reason})
    if not choices:  # the prompt itself was blocked (promptFeedback.blockReason)
        message = {"role": "assistant", "content": ""}
        choices.append({"index": 0, "message": message, "logprobs": None, "finish_reason": "content_filter"})
    response_id = str(data.get("responseId") or f"chatcmpl-{secrets.token_hex(12)}")
    return completion(
        response_id, str(data.get("modelVersion") or model), choices, gemini_usage(data) or Usage()
    )


class GeminiStreamTranslator(JSONEventStream):
    def __init__(self, model: str) -> None:
        super().__init__()
        self._id = f"chatcmpl-{secrets.token_hex(12)}"
        self._model = model
        self._created = now()
        self._usage: Usage | None = None
        self._started: set[int] = set()
        self._tool_counts: dict[int, int] = {}
        self._finished: set[int] = set()

    @property
    def usage(self) -> Usage | None:
        return self._usage

    @property
    def complete(self) -> bool:
        return bool(self._finished) and self._finished >= self._started

    def finish(self) -> list[JSON]:
        out = super().finish()
        # Gemini repeats the running usage on every event; OpenAI sends it once, last.
        if self._usage is not None and self.complete:
            out.append(usage_chunk(self._id, self._model, self._created, self._usage))
        return out

    def _event(self, kind: str, data: JSON) -> list[JSON]:
        if isinstance(data.get("error"), dict):
            error = data["error"]
            status = int(error.get("code") or 500)
            raise AdapterError(errors.build("gemini", status, error.get("message"), error.get("status")))
        return self._response(data)

    def _response(self, data: JSON) -> list[JSON]:
        self._id = str(data.get("responseId") or self._id)
        self._usage = gemini_usage(data) or self._usage
        out: list[JSON] = []
        for position, candidate in enumerate(data.get("candidates") or []):
            index = int(candidate.get("index", position))
            if index not in self._started:
                self._started.add(index)
                out.append(self._chunk(index, {"role": "assistant", "content": ""}))
            text, calls = split_parts((candidate.get("content") or {}).get("parts") or [])
            if text:
                out.append(self._chunk(index, {"content": text}))
            for call in calls:
                position_in_choice = self._tool_counts.get(index, 0)
                self._tool_counts[index] = position_in_choice + 1
                out.append(self._chunk(index, {"tool_calls": [{"index": position_in_choice, **call}]}))
            if candidate.get("finishReason"):
                self._finished.add(index)
                reason = finish_reason(candidate["finishReason"], self._tool_counts.get(index, 0) > 0)
                out.append(self._chunk(index, {}, reason))
        return out

    def _chunk(self, index: int, delta: JSON, reason: str | None = None) -> JSON:
        return chunk(self._id, self._model, self._created, delta, reason, index)
