"""Incremental Server-Sent Events parsing (any byte split), the base of the stream translators over it,
and the OpenAI chunk/response builders."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from gateways.ai.providers.base import JSON, Usage


@dataclass(frozen=True, slots=True)
class Event:
    event: str  # "message" when the stream named none
    data: str


class SSEParser:
    """Feeds raw bytes, yields complete events; tolerant of CRLF, comments and splits inside UTF-8."""

    def __init__(self) -> None:
        self._buffer = b""
        self._event = ""
        self._data: list[str] = []

    def feed(self, data: bytes) -> list[Event]:
        self._buffer += data
        events: list[Event] = []
        if b"\r" not in self._buffer:
            # The common case (LF line ends): one split per read instead of a search and a copy of
            # the rest of the buffer per line. CR needs the careful path: a CRLF can span two reads.
            *lines, self._buffer = self._buffer.split(b"\n")
            for line in lines:
                event = self._line(line)
                if event is not None:
                    events.append(event)
            return events
        while True:
            line, found = self._next_line()
            if not found:
                return events
            event = self._line(line)
            if event is not None:
                events.append(event)

    def finish(self) -> list[Event]:
        """Whatever a stream that ended without a trailing blank line still held."""
        events: list[Event] = []
        if self._buffer:
            line, self._buffer = self._buffer.rstrip(b"\r"), b""
            event = self._line(line)
            if event is not None:
                events.append(event)
        event = self._line(b"")
        if event is not None:
            events.append(event)
        return events

    def _next_line(self) -> tuple[bytes, bool]:
        buffer = self._buffer
        lf, cr = buffer.find(b"\n"), buffer.find(b"\r")
        if cr == -1 or (lf != -1 and lf < cr):
            if lf == -1:
                return b"", False
            self._buffer = buffer[lf + 1 :]
            return buffer[:lf], True
        if cr + 1 == len(buffer):
            return b"", False  # maybe the first half of a CRLF split across reads: wait for more
        end = cr + 2 if buffer[cr + 1] == 0x0A else cr + 1
        self._buffer = buffer[end:]
        return buffer[:cr], True

    def _line(self, raw: bytes) -> Event | None:
        if not raw:
            if not self._data:
                self._event = ""
                return None
            event = Event(self._event or "message", "\n".join(self._data))
            self._event, self._data = "", []
            return event
        line = raw.decode("utf-8", errors="replace")
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        return None


class JSONEventStream:
    """What every stream translator over SSE shares: the body parsed into events at any byte split,
    each event's data decoded as a JSON object (anything else is skipped: keep-alives, odd lines) and
    handed to `_event(kind, data)` (`kind`: the object's `type`, else the SSE event name), whose
    outputs are joined. `complete` is `_done` unless a subclass knows better; `_decode` may be
    overridden (OpenAI's `[DONE]` sentinel, its faster parser)."""

    def __init__(self) -> None:
        self._parser = SSEParser()
        self._done = False

    @property
    def complete(self) -> bool:
        return self._done

    def feed(self, data: bytes) -> list[JSON]:
        return self._translate(self._parser.feed(data))

    def finish(self) -> list[JSON]:
        return self._translate(self._parser.finish())

    def _translate(self, events: list[Event]) -> list[JSON]:
        out: list[JSON] = []
        for event in events:
            data = self._decode(event)
            if data is not None:
                out.extend(self._event(str(data.get("type") or event.event), data))
        return out

    def _decode(self, event: Event) -> JSON | None:
        try:
            data = json.loads(event.data)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def _event(self, kind: str, data: JSON) -> list[JSON]:
        raise NotImplementedError


def chunk(
    chunk_id: str,
    model: str,
    created: int,
    delta: JSON | None = None,
    finish_reason: str | None = None,
    index: int = 0,
) -> JSON:
    """One OpenAI `chat.completion.chunk` with a single choice."""
    return {
        "id": chunk_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": index, "delta": delta or {}, "logprobs": None, "finish_reason": finish_reason}],
    }


def usage_chunk(chunk_id: str, model: str, created: int, usage: Usage) -> JSON:
    """The last chunk OpenAI sends with include_usage: no choices, the usage."""
    return {
        "id": chunk_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [],
        "usage": usage_dict(usage),
    }


def usage_dict(usage: Usage) -> JSON:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def completion(response_id: str, model: str, choices: list[JSON], usage: Usage) -> JSON:
    """An OpenAI `chat.completion` object."""
    return {
        "id": response_id,
        "object": "chat.completion",
        "created": now(),
        "model": model,
        "choices": choices,
        "usage": usage_dict(usage),
    }


def now() -> int:
    return int(time.time())
