"""Messages API streams: chat chunks turned into Anthropic's events, and Anthropic's own passed on.

Both are StreamTranslators (providers/base.py) whose output is Anthropic events (`{"type": …}`), so
failover opens either kind the same way.
"""

from __future__ import annotations

from collections.abc import Mapping

from gateways.ai import messages_format as mf
from gateways.ai.event_streams import FromChatChunks
from gateways.ai.providers import errors
from gateways.ai.providers.base import JSON, AdapterError, StreamTranslator, Usage
from gateways.ai.providers.sse import JSONEventStream


class ChatToMessages(FromChatChunks):
    """Wraps a provider's chat-chunk translator; emits message_start … message_stop."""

    def __init__(self, inner: StreamTranslator, model: str, prompt_estimate: int) -> None:
        super().__init__(inner)
        self._model = model
        self._prompt_estimate = prompt_estimate
        self._block = -1  # index of the open content block (-1: none)
        self._text_open = False
        self._calls: dict[int, int] = {}  # chat tool-call index → block index
        self._done = False

    @property
    def complete(self) -> bool:
        return self._done

    def _start(self, out: list[JSON]) -> None:
        message: JSON = {
            "id": mf.new_id(),
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": self._prompt_estimate, "output_tokens": 0},
        }
        out.append({"type": "message_start", "message": message})

    def _close(self, out: list[JSON]) -> None:
        if self._block >= 0:
            out.append({"type": "content_block_stop", "index": self._block})
        self._text_open = False

    def _open(self, out: list[JSON], block: JSON) -> None:
        self._close(out)
        self._block += 1
        out.append({"type": "content_block_start", "index": self._block, "content_block": block})

    def _text(self, out: list[JSON], text: str) -> None:
        if not self._text_open:
            self._open(out, {"type": "text", "text": ""})
            self._text_open = True
        self.produced_chars += len(text)
        out.append(
            {
                "type": "content_block_delta",
                "index": self._block,
                "delta": {"type": "text_delta", "text": text},
            }
        )

    def _call(self, out: list[JSON], call: JSON) -> None:
        position = int(call.get("index", 0))
        function = call.get("function") or {}
        if position not in self._calls:
            block: JSON = {
                "type": "tool_use",
                "id": str(call.get("id") or mf.new_id("toolu")),
                "name": function.get("name"),
                "input": {},
            }
            self._open(out, block)
            self._calls[position] = self._block
        piece = function.get("arguments") or ""
        if piece:
            self.produced_chars += len(piece)
            delta = {"type": "input_json_delta", "partial_json": piece}
            out.append({"type": "content_block_delta", "index": self._calls[position], "delta": delta})

    def _end(self) -> list[JSON]:
        out: list[JSON] = []
        self._close(out)
        usage = self._inner.usage or Usage(self._prompt_estimate, self.produced_chars // 4 + 1)
        stop = mf.STOP_REASONS.get(str(self._reason), "end_turn")
        out.append(
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": mf.usage_object(usage),
            }
        )
        out.append({"type": "message_stop"})
        self._done = True
        return out


class NativeMessages(JSONEventStream):
    """Anthropic's events as they came; usage read from message_start and message_delta."""

    def __init__(self, error_status: Mapping[str, int]) -> None:
        super().__init__()
        self._error_status = error_status
        self._prompt: int | None = None
        self._completion = 0
        self.produced_chars = 0

    @property
    def usage(self) -> Usage | None:
        return None if self._prompt is None else Usage(self._prompt, self._completion)

    def _take(self, usage: object) -> None:
        if not isinstance(usage, dict):
            return
        names = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
        if any(usage.get(name) is not None for name in names):
            self._prompt = sum(int(usage.get(name) or 0) for name in names)
        if usage.get("output_tokens") is not None:
            self._completion = int(usage["output_tokens"])

    def _event(self, kind: str, data: JSON) -> list[JSON]:
        if kind == "error":
            error = data.get("error") or {}
            status = self._error_status.get(str(error.get("type")), 500)
            raise AdapterError(errors.build("anthropic", status, error.get("message"), error.get("type")))
        if kind == "message_start":
            self._take((data.get("message") or {}).get("usage"))
        elif kind == "message_delta":
            self._take(data.get("usage"))
        elif kind == "content_block_delta":
            delta = data.get("delta") or {}
            self.produced_chars += len(str(delta.get("text") or delta.get("partial_json") or ""))
        elif kind == "message_stop":
            self._done = True
        return [data]
