"""Guardrails on the OpenAI-compatible chat surface: every message's text parts, tool-call arguments and
tool results on the way in; the answer's content and tool-call arguments on the way out, whole (JSON)
or through per-choice hold-back guards (SSE). The AI gateway calls these three hooks, nothing else:

    engine = await chat_input(greq, body)                 # redacts in place, or raises (400)
    result = chat_output(greq, engine, result)            # JSON answer: redact, or content_filter
    stream = ChatStream.open(greq, engine)                # SSE: stream.process(chunk) / stream.finish()
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateways.common.router import GatewayRequest
from gateways.guardrails.engine import INPUT, OUTPUT, Engine
from gateways.guardrails.service import engine_for
from gateways.guardrails.stream import StreamGuards
from gateways.guardrails.verdicts import Verdict, record

TEXT_PARTS = frozenset({"text", "input_text", "output_text"})
Setter = Callable[[str], None]


def _put(container: Any, key: Any) -> Setter:
    def put(value: str) -> None:
        container[key] = value

    return put


class Texts:
    """The texts of a request or an answer, each with the setter that writes its redacted version back."""

    def __init__(self, texts: list[str] | None = None, setters: list[Setter] | None = None) -> None:
        self.texts: list[str] = [] if texts is None else texts
        self.setters: list[Setter] = [] if setters is None else setters

    def add(self, container: Any, key: Any) -> None:
        value = container.get(key)
        if isinstance(value, str) and value:
            self.texts.append(value)
            self.setters.append(_put(container, key))

    def parts(self, container: Any, key: Any) -> None:
        """`container[key]` as a string, or as a list of parts whose text parts count."""
        value = container.get(key)
        if isinstance(value, str):
            self.add(container, key)
        elif isinstance(value, list):
            for part in value:
                if isinstance(part, dict) and part.get("type") in TEXT_PARTS:
                    self.add(part, "text")

    def found(self) -> tuple[list[str], list[Setter]]:
        return self.texts, self.setters


def message_texts(messages: Any) -> tuple[list[str], list[Setter]]:
    """Texts of chat messages (content strings and text parts, tool-call arguments) with setters."""
    texts: list[str] = []
    setters: list[Setter] = []
    found = None  # a Texts over the same lists, made when a message holds more than a string
    for message in messages if isinstance(messages, list) else ():
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, str):  # the common case, inline: this runs on every request
            if content:
                texts.append(content)
                setters.append(_put(message, "content"))
        elif isinstance(content, list):
            found = found or Texts(texts, setters)
            found.parts(message, "content")
        calls = message.get("tool_calls")
        if calls:
            found = found or Texts(texts, setters)
            for call in calls:
                if isinstance(call, dict) and isinstance(call.get("function"), dict):
                    found.add(call["function"], "arguments")
        if isinstance(message.get("function_call"), dict):
            found = found or Texts(texts, setters)
            found.add(message["function_call"], "arguments")
    return texts, setters


def _apply(texts: list[str], new: list[str], setters: list[Setter]) -> None:
    for old, replacement, setter in zip(texts, new, setters, strict=True):
        if replacement is not old:
            setter(replacement)


def scan_texts(
    greq: GatewayRequest,
    engine: Engine,
    texts: list[str],
    setters: list[Setter],
    messages: int,
    stage: str = INPUT,
) -> Verdict:
    """Scan texts (redacting through their setters); records the verdict; raises (400) on a refusal."""
    new, verdict = engine.scan(stage, texts, messages=messages)
    if verdict.hits or verdict.note:  # else nothing was redacted, and nothing is to record
        _apply(texts, new, setters)
        record(greq.log, verdict)
        if verdict.blocked:
            raise verdict.exception(400)
    return verdict


def scan_messages(greq: GatewayRequest, engine: Engine, messages: Any, stage: str = INPUT) -> Verdict:
    """Scan (and redact in place) a list of chat messages; records the verdict; raises on a refusal."""
    texts, setters = message_texts(messages)
    count = len(messages) if isinstance(messages, list) else 0
    return scan_texts(greq, engine, texts, setters, count, stage)


def scan_output(greq: GatewayRequest, engine: Engine, texts: list[str], setters: list[Setter]) -> bool:
    """Output rules over a whole answer's texts: redacted through the setters, or refused (True: the
    caller withholds the answer; the log has the verdict and `guardrail_blocked`)."""
    new, verdict = engine.scan(OUTPUT, texts, messages=1)
    record(greq.log, verdict)
    if verdict.refused:
        greq.log["error_code"] = verdict.exception().code
        return True
    _apply(texts, new, setters)
    return False


async def chat_input(greq: GatewayRequest, body: dict[str, Any], endpoint: str = "") -> Engine:
    engine = await engine_for(greq.runtime.config, greq.project.id, endpoint)
    if engine.input:
        scan_messages(greq, engine, body.get("messages"))
    return engine


def chat_output(greq: GatewayRequest, engine: Engine, result: dict[str, Any]) -> dict[str, Any]:
    """The answer with output rules applied per choice; a refused choice is withheld (content_filter)."""
    if not engine.output:
        return result
    for choice in result.get("choices") or ():
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, str) and not message.get("tool_calls") and "function_call" not in message:
            # The common answer, one string: no walk over parts and calls, and when the prefilter rules
            # out every rule (a clean answer), no verdict either.
            if content and engine.clear(OUTPUT, content):
                continue
            texts, setters = ([content], [_put(message, "content")]) if content else ([], [])
        else:
            texts, setters = message_texts([message])
        if scan_output(greq, engine, texts, setters):
            message["content"] = ""
            message.pop("tool_calls", None)
            message.pop("function_call", None)
            choice["finish_reason"] = "content_filter"
    return result


class ChatStream(StreamGuards[tuple[Any, ...]]):
    """Output rules over `chat.completion.chunk`s: one hold-back guard per choice's content and per tool
    call's arguments. A refusal ends the stream with a `content_filter` chunk (`ended` turns True)."""

    def __init__(self, greq: GatewayRequest, engine: Engine) -> None:
        super().__init__(greq, engine)
        self.template: dict[str, Any] = {}
        self.choices: set[int] = set()
        self.finished: set[int] = set()

    def process(self, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        if self.ended:
            return []
        choices = chunk.get("choices")
        if not choices:
            return [chunk]
        self.template = {k: v for k, v in chunk.items() if k in ("id", "object", "created", "model")}
        blocked = False
        for choice in choices:
            index = choice.get("index", 0)
            self.choices.add(index)
            delta = choice.get("delta")
            if not isinstance(delta, dict):
                delta = choice["delta"] = {}
            if isinstance(delta.get("content"), str) and delta["content"]:
                released = self.guard((index, "content")).feed(delta["content"])
                delta["content"] = released.text
                blocked = blocked or released.blocked
            for call in delta.get("tool_calls") or ():
                function = call.get("function") if isinstance(call, dict) else None
                if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                    released = self.guard((index, "tool", call.get("index", 0))).feed(function["arguments"])
                    function["arguments"] = released.text
                    blocked = blocked or released.blocked
            if choice.get("finish_reason") and not blocked:
                blocked = self._flush_into(index, delta) or blocked
                self.finished.add(index)
        if blocked:
            return self._end()
        keep = any(
            c.get("finish_reason") or _has_payload(c.get("delta") or {}) or c.get("logprobs") for c in choices
        )
        return [chunk] if keep else []

    def _flush_into(self, index: int, delta: dict[str, Any]) -> bool:
        blocked = False
        for key, guard in self.guards.items():
            if key[0] != index:
                continue
            released = guard.flush()
            blocked = blocked or released.blocked
            if not released.text:
                continue
            if key[1] == "content":
                delta["content"] = (delta.get("content") or "") + released.text
            else:
                delta.setdefault("tool_calls", []).append(
                    {"index": key[2], "function": {"arguments": released.text}}
                )
        return blocked

    def finish(self) -> list[dict[str, Any]]:
        """The upstream stream ended: release what is held for choices that never sent a finish."""
        out: list[dict[str, Any]] = []
        if self.ended:
            return out
        for index in sorted(self.choices - self.finished):
            delta: dict[str, Any] = {}
            if self._flush_into(index, delta):
                return self._end()
            if delta:
                out.append(self._chunk(index, delta, None))
        self.record()
        return out

    def _end(self) -> list[dict[str, Any]]:
        self.refuse()
        return [self._chunk(i, {}, "content_filter") for i in sorted(self.choices - self.finished) or [0]]

    def _chunk(self, index: int, delta: dict[str, Any], reason: str | None) -> dict[str, Any]:
        base = {"object": "chat.completion.chunk", **self.template}
        return {**base, "choices": [{"index": index, "delta": delta, "finish_reason": reason}]}


def _has_payload(delta: dict[str, Any]) -> bool:
    return any(v not in (None, "", []) for v in delta.values())
