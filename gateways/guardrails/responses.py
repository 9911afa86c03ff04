"""Guardrails on the Responses API (/v1/responses), the same rules as on chat (chat.py): `instructions`,
every input item's text parts, function-call arguments and function-call outputs on the way in; the
output items' text and function-call arguments on the way out, whole (JSON) or through hold-back guards
over the Responses events (SSE). The Responses view calls these three hooks:

    engine = await responses_input(greq, body, items)     # redacts in place, or raises (400)
    response = responses_output(greq, engine, response)   # JSON: redact, or withhold (content_filter)
    stream = ResponsesStream.open(greq, engine)           # SSE: stream.process(events) / stream.finish()

A refusal answers what OpenAI answers when its own filter stops a response: status `incomplete` with
`incomplete_details.reason == "content_filter"` (on a stream, a `response.incomplete` event last).
"""

from __future__ import annotations

import copy
from typing import Any

import orjson

from gateways.common.router import GatewayRequest
from gateways.guardrails.chat import Setter, Texts, scan_output, scan_texts
from gateways.guardrails.engine import INPUT, OUTPUT, Engine
from gateways.guardrails.service import engine_for
from gateways.guardrails.stream import EventStreamGuards

JSON = dict[str, Any]
FINAL_TYPES = frozenset({"response.completed", "response.incomplete", "response.failed"})
ARGUMENTS = -1  # the content index under which a function_call item's arguments are guarded


def item_texts(items: list[JSON]) -> tuple[list[str], list[Setter]]:
    """Texts of Responses items (message text parts, function-call arguments and outputs) with setters."""
    found = Texts()
    for item in items:
        kind = item.get("type") or "message"
        if kind == "message":
            found.parts(item, "content")
        elif kind == "function_call":
            found.add(item, "arguments")
        elif kind == "function_call_output":
            found.parts(item, "output")
    return found.found()


async def responses_input(greq: GatewayRequest, body: JSON, items: list[JSON]) -> Engine:
    """Input rules over `instructions` and the conversation's items (history included, as chat scans
    every message); redactions are written into `items` (a copy of what was passed in), so the upstream
    call and the stored state see them."""
    engine = await engine_for(greq.runtime.config, greq.project.id)
    if engine.active(INPUT):
        # A stored history may be shared with the response store's write-behind queue: scan a copy.
        items[:] = orjson.loads(orjson.dumps(items))
        head = Texts()
        head.add(body, "instructions")
        texts, setters = item_texts(items)
        count = len(items) + len(head.texts)
        scan_texts(greq, engine, head.texts + texts, head.setters + setters, count)
    return engine


def _withhold(response: JSON) -> None:
    response["status"] = "incomplete"
    response["incomplete_details"] = {"reason": "content_filter"}


def responses_output(greq: GatewayRequest, engine: Engine, response: JSON) -> JSON:
    """The Response with output rules applied; a refusal withholds every output item."""
    output = response.get("output")
    if not engine.active(OUTPUT) or not isinstance(output, list):
        return response
    items = [item for item in output if isinstance(item, dict)]
    if scan_output(greq, engine, *item_texts(items)):
        response["output"] = []
        _withhold(response)
    return response


class ResponsesStream(EventStreamGuards[tuple[int, int]]):
    """Output rules over Responses events: one hold-back guard per output text part and per function
    call's arguments. Held-back text goes out as an extra delta just before its `.done` event; `.done`
    events, finished items and the final Response carry the released (redacted) text. Sequence numbers
    are renumbered, as deltas may be dropped (all held back) or added (a flush). A refusal ends the
    stream with `response.incomplete` (reason `content_filter`) and `ended` turns True."""

    def __init__(self, greq: GatewayRequest, engine: Engine) -> None:
        super().__init__(greq, engine)
        self.response: JSON = {}
        self.items: dict[int, JSON] = {}  # output index → the item as added
        self.released: dict[tuple[int, int], str] = {}
        self.sequence = 0

    def process(self, events: list[JSON]) -> list[JSON]:
        out = super().process(events)
        for event in out:
            event["sequence_number"] = self.sequence
            self.sequence += 1
        return out

    def _event(self, event: JSON) -> list[JSON]:
        kind = event.get("type")
        if kind in ("response.created", "response.in_progress") and isinstance(event.get("response"), dict):
            self.response = copy.deepcopy(event["response"])
        elif kind == "response.output_item.added" and isinstance(event.get("item"), dict):
            self.items[int(event.get("output_index", 0))] = copy.deepcopy(event["item"])
        elif kind in ("response.output_text.delta", "response.function_call_arguments.delta"):
            return self._delta(event)
        elif kind in ("response.output_text.done", "response.function_call_arguments.done"):
            return self._done(event)
        elif kind == "response.content_part.done" and isinstance(event.get("part"), dict):
            key = (int(event.get("output_index", 0)), int(event.get("content_index", 0)))
            if event["part"].get("type") == "output_text" and self._put_released(key, event["part"], "text"):
                return self._end()
        elif kind == "response.output_item.done" and isinstance(event.get("item"), dict):
            index = int(event.get("output_index", 0))
            held = self._release([key for key in self.unflushed() if key[0] == index])
            if self.ended:
                return held
            if self._rewrite(index, event["item"]):
                return self._end()
            return [*held, event]
        elif kind in FINAL_TYPES and isinstance(event.get("response"), dict):
            held = self._release(self.unflushed())
            if self.ended:
                return held
            for index, item in enumerate(event["response"].get("output") or ()):
                if isinstance(item, dict) and self._rewrite(index, item):
                    return self._end()
            return [*held, event]
        return [event]

    def _release(self, keys: list[Any]) -> list[JSON]:
        """Flush guards whose `.done` never came (the upstream skipped it): their text as deltas."""
        held: list[JSON] = []
        for key in keys:
            released = self.flush(key)
            if released.blocked:
                return self._end()
            if released.text:
                self.released[key] = self.released.get(key, "") + released.text
                held.append(self._delta_event(key, released.text))
        return held

    def _delta_event(self, key: tuple[int, int], text: str) -> JSON:
        item_id = self.items.get(key[0], {}).get("id")
        event: JSON = {"type": _delta_type(key), "item_id": item_id, "output_index": key[0], "delta": text}
        if key[1] != ARGUMENTS:
            event.update(content_index=key[1], logprobs=[])
        return event

    @staticmethod
    def _key(event: JSON) -> tuple[int, int]:
        index = int(event.get("output_index", 0))
        if str(event.get("type")).startswith("response.function_call_arguments"):
            return index, ARGUMENTS
        return index, int(event.get("content_index", 0))

    def _delta(self, event: JSON) -> list[JSON]:
        key = self._key(event)
        released = self.guard(key).feed(str(event.get("delta") or ""))
        if released.blocked:
            return self._end()
        self.released[key] = self.released.get(key, "") + released.text
        if not released.text:
            return []
        event["delta"] = released.text
        return [event]

    def _done(self, event: JSON) -> list[JSON]:
        key = self._key(event)
        field = "arguments" if key[1] == ARGUMENTS else "text"
        frame = {k: v for k, v in event.items() if k not in (field, "name")}
        out: list[JSON] = []
        if key not in self.guards and event.get(field):  # the whole text came in `.done` only
            out = self._delta({**frame, "type": _delta_type(key), "delta": event[field]})
            if self.ended:
                return out
        released = self.flush(key)
        if released.blocked:
            return self._end()
        if released.text:
            self.released[key] = self.released.get(key, "") + released.text
            out.append({**frame, "type": _delta_type(key), "delta": released.text})
        event[field] = self.released.get(key, "")
        return [*out, event]

    def _rewrite(self, index: int, item: JSON) -> bool:
        """Put the released text into a finished item; True when a rule refuses text that came whole
        here only (an upstream that sent no deltas for it)."""
        places: list[tuple[tuple[int, int], JSON, str]] = []
        if item.get("type") == "function_call":
            places.append(((index, ARGUMENTS), item, "arguments"))
        elif item.get("type") == "message":
            for position, part in enumerate(item.get("content") or ()):
                if isinstance(part, dict) and part.get("type") == "output_text":
                    places.append(((index, position), part, "text"))
        return any(self._put_released(key, holder, field) for key, holder, field in places)

    def _put_released(self, key: tuple[int, int], holder: JSON, field: str) -> bool:
        text = holder.get(field)
        if key not in self.guards and isinstance(text, str) and text:
            fed, rest = self.guard(key).feed(text), self.flush(key)
            if fed.blocked or rest.blocked:
                return True
            self.released[key] = fed.text + rest.text
        if key in self.released:
            holder[field] = self.released[key]
        return False

    def _end(self) -> list[JSON]:
        self.refuse()
        response = copy.deepcopy(self.response)
        output = []
        for index in sorted(self.items):
            item = copy.deepcopy(self.items[index])
            if item.get("type") == "message":
                item["content"] = [
                    {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
                    for (at, position), text in sorted(self.released.items())
                    if at == index and position != ARGUMENTS
                ]
            elif item.get("type") == "function_call":
                item["arguments"] = self.released.get((index, ARGUMENTS), "")
            item["status"] = "incomplete"
            output.append(item)
        response["output"] = output
        _withhold(response)
        return [{"type": "response.incomplete", "response": response}]


def _delta_type(key: tuple[int, int]) -> str:
    if key[1] == ARGUMENTS:
        return "response.function_call_arguments.delta"
    return "response.output_text.delta"
