"""Responses API streams: chat chunks turned into Responses events, and OpenAI's own events passed on.

Both are StreamTranslators (providers/base.py) whose output is Responses events (`{"type": …}`), so
failover opens either kind of stream the same way. `final` holds the finished Response once the
stream is complete.
"""

from __future__ import annotations

from typing import Any

from gateways.ai import responses_format as rf
from gateways.ai.event_streams import FromChatChunks
from gateways.ai.providers import errors
from gateways.ai.providers.base import JSON, AdapterError, StreamTranslator, Usage
from gateways.ai.providers.sse import JSONEventStream

FINAL_TYPES = frozenset({"response.completed", "response.incomplete", "response.failed"})


class ChatToResponses(FromChatChunks):
    """Wraps a provider's chat-chunk translator; emits the Responses event sequence the SDKs expect."""

    def __init__(self, inner: StreamTranslator, response_id: str, body: JSON, model: str) -> None:
        super().__init__(inner)
        self._response = rf.skeleton(response_id, body, model)
        self._sequence = 0
        self._output: list[JSON] = []
        self._open_text: JSON | None = None  # the open message item
        self._calls: dict[int, JSON] = {}  # chat tool-call index → open function_call item
        self.final: JSON | None = None

    @property
    def complete(self) -> bool:
        return self.final is not None

    # --- event building ---
    def _emit(self, out: list[JSON], kind: str, **fields: Any) -> None:
        out.append({"type": kind, "sequence_number": self._sequence, **fields})
        self._sequence += 1

    def _start(self, out: list[JSON]) -> None:
        self._emit(out, "response.created", response=dict(self._response))
        self._emit(out, "response.in_progress", response=dict(self._response))

    def _text(self, out: list[JSON], text: str) -> None:
        if self._open_text is None:
            self._open_text = rf.message_item(rf.new_id("msg"), "", "in_progress")
            self._open_text["content"] = []
            self._output.append(self._open_text)
            index = len(self._output) - 1
            self._emit(
                out, "response.output_item.added", output_index=index, item=dict(self._open_text, content=[])
            )
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            self._open_text["content"].append(part)
            self._emit(
                out,
                "response.content_part.added",
                item_id=self._open_text["id"],
                output_index=index,
                content_index=0,
                part=dict(part),
            )
        self._open_text["content"][0]["text"] += text
        self.produced_chars += len(text)
        self._emit(
            out,
            "response.output_text.delta",
            item_id=self._open_text["id"],
            output_index=self._output.index(self._open_text),
            content_index=0,
            delta=text,
            logprobs=[],
        )

    def _close_text(self, out: list[JSON]) -> None:
        item, self._open_text = self._open_text, None
        if item is None:
            return
        index = self._output.index(item)
        part = item["content"][0]
        self._emit(
            out,
            "response.output_text.done",
            item_id=item["id"],
            output_index=index,
            content_index=0,
            text=part["text"],
            logprobs=[],
        )
        self._emit(
            out,
            "response.content_part.done",
            item_id=item["id"],
            output_index=index,
            content_index=0,
            part=part,
        )
        item["status"] = "completed"
        self._emit(out, "response.output_item.done", output_index=index, item=item)

    def _call(self, out: list[JSON], call: JSON) -> None:
        self._close_text(out)
        position = int(call.get("index", 0))
        function = call.get("function") or {}
        item = self._calls.get(position)
        if item is None:
            call_id = str(call.get("id") or rf.new_id("call"))
            item = rf.call_item(rf.new_id("fc"), call_id, str(function.get("name") or ""), "", "in_progress")
            self._calls[position] = item
            self._output.append(item)
            self._emit(out, "response.output_item.added", output_index=len(self._output) - 1, item=dict(item))
        arguments = function.get("arguments") or ""
        if arguments:
            item["arguments"] += arguments
            self.produced_chars += len(arguments)
            self._emit(
                out,
                "response.function_call_arguments.delta",
                item_id=item["id"],
                output_index=self._output.index(item),
                delta=arguments,
            )

    def _end(self) -> list[JSON]:
        out: list[JSON] = []
        self._close_text(out)
        for item in self._calls.values():
            index = self._output.index(item)
            self._emit(
                out,
                "response.function_call_arguments.done",
                item_id=item["id"],
                output_index=index,
                name=item["name"],
                arguments=item["arguments"],
            )
            item["status"] = "completed"
            self._emit(out, "response.output_item.done", output_index=index, item=item)
        self._calls = {}
        usage = self._inner.usage or Usage(0, self.produced_chars // 4 + 1)
        self.final = rf.finish(self._response, self._output, usage, self._reason)
        kind = "response.incomplete" if self.final["status"] == "incomplete" else "response.completed"
        self._emit(out, kind, response=self.final)
        return out


class NativeResponses(JSONEventStream):
    """OpenAI's Responses events as they came, with the fields the gateway decides put back."""

    def __init__(self, provider: str, patch: JSON) -> None:
        super().__init__()
        self._provider = provider
        self._patch = patch  # store, previous_response_id: as the client asked, not as sent upstream
        self.final: JSON | None = None
        self.produced_chars = 0

    @property
    def usage(self) -> Usage | None:
        return rf.usage_from(self.final) if self.final and self.final.get("usage") else None

    @property
    def complete(self) -> bool:
        return self.final is not None

    def _event(self, kind: str, data: JSON) -> list[JSON]:
        if kind == "error":
            message, code = data.get("message"), data.get("code")
            raise AdapterError(errors.build(self._provider, 500, message, code))
        response = data.get("response")
        if isinstance(response, dict):
            response.update(self._patch)
            if kind in FINAL_TYPES:
                self.final = response
        if kind in ("response.output_text.delta", "response.function_call_arguments.delta"):
            self.produced_chars += len(str(data.get("delta") or ""))
        return [data]
