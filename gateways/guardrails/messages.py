"""Guardrails on Anthropic's Messages API (/v1/messages), the same rules as on chat (chat.py): `system`,
every message's text blocks, tool_use inputs and tool_result contents on the way in; the answer's text
blocks and tool_use inputs on the way out, whole (JSON) or through hold-back guards over Anthropic's
events (SSE). The Messages view calls these three hooks:

    engine = await messages_input(greq, body)             # redacts in place, or raises (400)
    message = messages_output(greq, engine, message)      # JSON: redact, or withhold (refusal)
    stream = MessagesStream.open(greq, engine)            # SSE: stream.process(events) / stream.finish()

A refusal answers what Anthropic answers when its own classifier stops a message: `stop_reason:
"refusal"` (on a stream, `message_delta` with it, then `message_stop`).
"""

from __future__ import annotations

from typing import Any

from gateways.common.router import GatewayRequest
from gateways.guardrails.chat import Setter, Texts, scan_output, scan_texts
from gateways.guardrails.engine import INPUT, OUTPUT, Engine
from gateways.guardrails.service import engine_for, json_strings
from gateways.guardrails.stream import EventStreamGuards

JSON = dict[str, Any]
REFUSAL = "refusal"
DELTA_FIELDS = {"text_delta": "text", "input_json_delta": "partial_json"}


def block_texts(container: JSON, key: str = "content") -> tuple[list[str], list[Setter]]:
    """Texts of `container[key]`, a string or content blocks (text, every string of a tool_use input,
    tool_result content), with setters."""
    found = Texts()

    def content(container: JSON, key: str) -> None:
        value = container.get(key)
        if isinstance(value, str):
            found.add(container, key)
            return
        for block in value if isinstance(value, list) else ():
            if not isinstance(block, dict):
                continue
            kind = block.get("type")
            if kind == "text":
                found.add(block, "text")
            elif kind == "tool_use" and isinstance(block.get("input"), dict):
                strings, puts, _ = json_strings(block["input"])
                found.texts.extend(s for s in strings if s)
                found.setters.extend(p for s, p in zip(strings, puts, strict=True) if s)
            elif kind == "tool_result":
                content(block, "content")

    content(container, key)
    return found.found()


async def messages_input(greq: GatewayRequest, body: JSON) -> Engine:
    """Input rules over `system` and every message; redactions are written in place, so whichever
    provider serves the request (natively or translated) sees them."""
    engine = await engine_for(greq.runtime.config, greq.project.id)
    if engine.active(INPUT):
        texts, setters = block_texts(body, "system")
        messages = body.get("messages") or []
        for message in messages:
            more, puts = block_texts(message)
            texts.extend(more)
            setters.extend(puts)
        scan_texts(greq, engine, texts, setters, len(messages) + bool(body.get("system")))
    return engine


def messages_output(greq: GatewayRequest, engine: Engine, message: JSON) -> JSON:
    """The message with output rules applied; a refusal withholds its content (`stop_reason: refusal`)."""
    if engine.active(OUTPUT) and scan_output(greq, engine, *block_texts(message)):
        message["content"] = []
        message["stop_reason"] = REFUSAL
        message["stop_sequence"] = None
    return message


class MessagesStream(EventStreamGuards[int]):
    """Output rules over Anthropic's events: one hold-back guard per content block (a text block's text,
    a tool_use block's partial JSON). Held-back text goes out as an extra delta just before its
    `content_block_stop`. A refusal closes the open blocks and ends with `message_delta` (stop_reason
    `refusal`) and `message_stop`; `ended` turns True."""

    def __init__(self, greq: GatewayRequest, engine: Engine) -> None:
        super().__init__(greq, engine)
        self.open_blocks: list[Any] = []
        self.json_blocks: set[Any] = set()  # tool_use blocks: their deltas are partial JSON
        self.chars = 0

    def _event(self, event: JSON) -> list[JSON]:
        kind = event.get("type")
        index = event.get("index", 0)
        if kind == "content_block_start":
            self.open_blocks.append(index)
            if (event.get("content_block") or {}).get("type") == "tool_use":
                self.json_blocks.add(index)
        elif kind == "content_block_delta" and isinstance(event.get("delta"), dict):
            delta = event["delta"]
            field = DELTA_FIELDS.get(str(delta.get("type")))
            if field is None:  # thinking and signature deltas: not the answer
                return [event]
            text = str(delta.get(field) or "")
            self.chars += len(text)
            released = self.guard(index).feed(text)
            if released.blocked:
                return self._end()
            if not released.text:
                return []
            delta[field] = released.text
        elif kind == "content_block_stop":
            return self._stop(index, event)
        elif kind == "message_delta":
            held: list[JSON] = []
            for key in self.unflushed():  # blocks that never said stop
                held.extend(self._stop(key, {"type": "content_block_stop", "index": key}))
                if self.ended:
                    return held
            return [*held, event]
        return [event]

    def _stop(self, index: Any, event: JSON) -> list[JSON]:
        """The block's held-back text released just before its stop event."""
        released = self.flush(index)
        if released.blocked:
            return self._end()
        if index in self.open_blocks:
            self.open_blocks.remove(index)
        out: list[JSON] = []
        if released.text:
            kind = "input_json_delta" if index in self.json_blocks else "text_delta"
            delta = {"type": kind, DELTA_FIELDS[kind]: released.text}
            out.append({"type": "content_block_delta", "index": index, "delta": delta})
        return [*out, event]

    def _end(self) -> list[JSON]:
        self.refuse()
        out: list[JSON] = [{"type": "content_block_stop", "index": i} for i in self.open_blocks]
        self.open_blocks = []
        out.append(
            {
                "type": "message_delta",
                "delta": {"stop_reason": REFUSAL, "stop_sequence": None},
                "usage": {"output_tokens": self.chars // 4 + 1},
            }
        )
        out.append({"type": "message_stop"})
        return out
