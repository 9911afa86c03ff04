"""Responses API streams: chat chunks turned into Responses events, and OpenAI's own events passed on.

Both are StreamTranslators (providers/base.py) whose output is Responses events (`{"type": …}`), so
failover opens either kind of stream the same way. `final` holds the finished Response once the
stream is complete.
"""

from __future__ import annotations

import json
from typing import Any

from gateways.ai import responses_format as rf
from gateways.ai.providers import errors
from gateways.ai.providers.base import JSON, AdapterError, StreamTranslator, Usage
from gateways.ai.providers.sse import Event, SSEParser

FINAL_TYPES = frozenset({"response.completed", "response.incomplete", "response.failed"})


class ChatToResponses:
    """Wraps a provider's chat-chunk translator; emits the Responses event sequence the SDKs expect."""

    def __init__(self, inner: StreamTranslator, response_id: str, body: JSON, model: str) -> None:
        self._inner = inner
        self._response = rf.skeleton(response_id, body, model)
        self._sequence = 0
        self._started = False
        self._output: list[JSON] = []
        self._text: JSON | None = None  # the open message item
        self._calls: dict[int, JSON] = {}  # chat tool-call index → open function_call item
        self._reason: str | None = None
        self.final: JSON | None = None
        self.produced_chars = 0

    @property
    def usage(self) -> Usage | None:
        return self._inner.usage

    @property
    def complete(self) -> bool:
        return self.final is not None

    def feed(self, data: bytes) -> list[JSON]:
        return self._events(self._inner.feed(data))

    def finish(self) -> list[JSON]:
        out = self._events(self._inner.finish())
        if self._inner.complete and self.final is None:
            out.extend(self._complete())
        return out

    # --- event building ---
    def _emit(self, out: list[JSON], kind: str, **fields: Any) -> None:
        out.append({"type": kind, "sequence_number": self._sequence, **fields})
        self._sequence += 1

    def _events(self, chunks: list[JSON]) -> list[JSON]:
        out: list[JSON] = []
        for chunk in chunks:
            if not self._started:
                self._started = True
                self._emit(out, "response.created", response=dict(self._response))
                self._emit(out, "response.in_progress", response=dict(self._response))
            for choice in chunk.get("choices") or ():
                if choice.get("index", 0) != 0:
                    continue
                delta = choice.get("delta") or {}
                if delta.get("content"):
                    self._text_delta(out, delta["content"])
                for call in delta.get("tool_calls") or ():
                    self._call_delta(out, call)
                if choice.get("finish_reason"):
                    self._reason = choice["finish_reason"]
        return out

    def _text_delta(self, out: list[JSON], text: str) -> None:
        if self._text is None:
            self._text = rf.message_item(rf.new_id("msg"), "", "in_progress")
            self._text["content"] = []
            self._output.append(self._text)
            index = len(self._output) - 1
            self._emit(
                out, "response.output_item.added", output_index=index, item=dict(self._text, content=[])
            )
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            self._text["content"].append(part)
            self._emit(
                out,
                "response.content_part.added",
                item_id=self._text["id"],
                output_index=index,
                content_index=0,
                part=dict(part),
            )
        self._text["content"][0]["text"] += text
        self.produced_chars += len(text)
        self._emit(
            out,
            "response.output_text.delta",
            item_id=self._text["id"],
            output_index=self._output.index(self._text),
            content_index=0,
            delta=text,
            logprobs=[],
        )

    def _close_text(self, out: list[JSON]) -> None:
        item, self._text = self._text, None
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

    def _call_delta(self, out: list[JSON], call: JSON) -> None:
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

    def _complete(self) -> list[JSON]:
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


class NativeResponses:
    """OpenAI's Responses events as they came, with the fields the gateway decides put back."""

    def __init__(self, provider: str, patch: JSON) -> None:
        self._provider = provider
        self._patch = patch  # store, previous_response_id: as the client asked, not as sent upstream
        self._parser = SSEParser()
        self.final: JSON | None = None
        self.produced_chars = 0

    @property
    def usage(self) -> Usage | None:
        return rf.usage_from(self.final) if self.final and self.final.get("usage") else None

    @property
    def complete(self) -> bool:
        return self.final is not None

    def feed(self, data: bytes) -> list[JSON]:
        return self._translate(self._parser.feed(data))

    def finish(self) -> list[JSON]:
        return self._translate(self._parser.finish())

    def _translate(self, events: list[Event]) -> list[JSON]:
        out: list[JSON] = []
        for event in events:
            try:
                data = json.loads(event.data)
            except ValueError:
                continue
            if not isinstance(data, dict):
                continue
            kind = data.get("type") or event.event
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
            out.append(data)
        return out
