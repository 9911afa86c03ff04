"""Anthropic's streaming events (message_start, content_block_*, message_delta) as OpenAI chunks."""

from __future__ import annotations

from collections.abc import Mapping

from gateways.ai.providers import errors
from gateways.ai.providers.base import JSON, AdapterError, Usage
from gateways.ai.providers.sse import JSONEventStream, chunk, now, usage_chunk

# The forced tool that carries a json_schema answer; its input is reported as the message content.
JSON_TOOL = "promptgate_json_response"

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def finish_reason(stop_reason: object) -> str:
    return FINISH_REASONS.get(str(stop_reason), "stop")


class AnthropicStreamTranslator(JSONEventStream):
    def __init__(self, model: str, error_status: Mapping[str, int]) -> None:
        super().__init__()
        self._error_status = error_status
        self._id = ""
        self._model = model
        self._created = now()
        self._prompt = 0
        self._completion = 0
        self._seen_usage = False
        self._blocks: dict[int, tuple[str, int]] = {}  # Anthropic block index → (kind, tool-call index)
        self._tools = 0
        self._forced_json = False

    @property
    def usage(self) -> Usage | None:
        return Usage(self._prompt, self._completion) if self._seen_usage else None

    def _chunk(self, delta: JSON, reason: str | None = None) -> JSON:
        return chunk(self._id, self._model, self._created, delta, reason)

    def _event(self, kind: str, data: JSON) -> list[JSON]:
        if kind == "message_start":
            return self._message_start(data.get("message") or {})
        if kind == "content_block_start":
            return self._block_start(int(data.get("index", 0)), data.get("content_block") or {})
        if kind == "content_block_delta":
            return self._block_delta(int(data.get("index", 0)), data.get("delta") or {})
        if kind == "message_delta":
            return self._message_delta(data)
        if kind == "message_stop":
            self._done = True
            if self._seen_usage:
                return [
                    usage_chunk(self._id, self._model, self._created, Usage(self._prompt, self._completion))
                ]
            return []
        if kind == "error":
            error = data.get("error") or {}
            status = self._error_status.get(str(error.get("type")), 500)
            raise AdapterError(errors.build("anthropic", status, error.get("message"), error.get("type")))
        return []  # ping, content_block_stop, and event types added later

    def _message_start(self, message: JSON) -> list[JSON]:
        self._id = str(message.get("id") or "")
        self._model = str(message.get("model") or self._model)
        self._take_usage(message.get("usage"))
        return [self._chunk({"role": "assistant", "content": ""})]

    def _take_usage(self, usage: object) -> None:
        if not isinstance(usage, dict):
            return
        self._seen_usage = True
        names = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
        if any(usage.get(name) is not None for name in names):
            self._prompt = sum(int(usage.get(name) or 0) for name in names)
        if usage.get("output_tokens") is not None:
            self._completion = int(usage["output_tokens"])  # cumulative, per Anthropic's docs

    def _block_start(self, index: int, block: JSON) -> list[JSON]:
        kind = block.get("type")
        if kind == "text":
            self._blocks[index] = ("text", -1)
            text = block.get("text") or ""
            return [self._chunk({"content": text})] if text else []
        if kind == "tool_use" and block.get("name") == JSON_TOOL:
            self._forced_json = True
            self._blocks[index] = ("json", -1)
            return []
        if kind == "tool_use":
            position = self._tools
            self._tools += 1
            self._blocks[index] = ("tool", position)
            function = {"name": block.get("name"), "arguments": ""}
            call = {"index": position, "id": block.get("id"), "type": "function", "function": function}
            return [self._chunk({"tool_calls": [call]})]
        self._blocks[index] = ("other", -1)  # thinking, server tools: not part of OpenAI's format
        return []

    def _block_delta(self, index: int, delta: JSON) -> list[JSON]:
        kind, position = self._blocks.get(index, ("text", -1))
        if delta.get("type") == "text_delta" and kind == "text":
            return [self._chunk({"content": delta.get("text", "")})]
        if delta.get("type") == "input_json_delta":
            partial = delta.get("partial_json", "")
            if kind == "json":
                return [self._chunk({"content": partial})] if partial else []
            if kind == "tool":
                return [
                    self._chunk({"tool_calls": [{"index": position, "function": {"arguments": partial}}]})
                ]
        return []

    def _message_delta(self, data: JSON) -> list[JSON]:
        self._take_usage(data.get("usage"))
        stop_reason = (data.get("delta") or {}).get("stop_reason")
        if stop_reason is None:
            return []
        reason = "stop" if self._forced_json else finish_reason(stop_reason)
        return [self._chunk({}, reason)]
