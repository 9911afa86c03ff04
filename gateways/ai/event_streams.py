"""What the Responses API and the Messages API share on the way out, written once: their SSE framing
(`event: <type>` + `data: <json>`), the streamed answer around a failover stream (output guardrails,
an upstream failure reported as an in-stream error event, usage settled when the stream closes), and
the base of the translators that turn a provider's chat chunks into their events.

    response = event_stream(greq, opened, reservation, prices, "messages", prompt_tokens=..., error_event=...)
    class ChatToMessages(FromChatChunks): _start / _text / _call / _end    (messages_stream.py)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

import orjson

from gateways.ai import budgets, failover, pricing
from gateways.ai.errors import OpenAIError
from gateways.ai.providers.base import JSON, StreamTranslator, Usage
from gateways.common.http import SSE_HEADERS, StreamingResponse
from gateways.common.router import GatewayRequest
from gateways.common.transport import http_client


def frame(event: JSON) -> bytes:
    return b"event: " + str(event.get("type")).encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


class EventGuard(Protocol):
    """Output guardrails over a stream of events (gateways/guardrails/responses.py, messages.py)."""

    ended: bool

    def process(self, events: list[JSON]) -> list[JSON]: ...

    def finish(self) -> None: ...


def event_stream(
    greq: GatewayRequest,
    opened: failover.OpenStream,
    reservation: budgets.Reservation,
    prices: pricing.PriceTable,
    endpoint: str,
    *,
    prompt_tokens: Callable[[], int],
    error_event: Callable[[OpenAIError], JSON],
    guard: EventGuard | None = None,
    on_batch: Callable[[list[JSON]], Awaitable[None]] | None = None,
) -> StreamingResponse:
    """The SSE answer of an opened stream whose translator emits typed events. `prompt_tokens` is the
    estimate used when the provider reported no usage; `on_batch` sees each batch before the client."""
    from gateways.ai import openai_api  # it imports the two APIs that import this module

    candidate = opened.candidate
    translator: Any = opened.translator

    async def events() -> AsyncIterator[bytes]:
        try:
            async for batch in opened.batches():
                if guard is not None:  # output guardrails: held back, redacted, or ended
                    batch = guard.process(batch)
                if on_batch is not None:
                    await on_batch(batch)
                if batch:
                    yield b"".join(frame(event) for event in batch)
                if guard is not None and guard.ended:
                    return
            if not translator.complete:
                raise http_client.UpstreamError("upstream ended the stream early")
            if guard is not None:
                guard.finish()
        except failover.STREAM_ERRORS as exc:
            error = failover.stream_error(exc)
            greq.log["error_code"] = error.code
            yield frame(error_event(error))

    async def finish() -> None:
        await opened.close()
        usage = translator.usage or Usage(prompt_tokens(), translator.produced_chars // 4 + 1)
        price = pricing.price_for(candidate.target.provider, candidate.target.model, prices)
        nanos = openai_api._record(greq, candidate, usage, price, endpoint)
        await reservation.settle(nanos, usage.total_tokens)

    headers = {**openai_api._headers(candidate, reservation), **SSE_HEADERS}
    return StreamingResponse(events(), headers=headers, on_close=finish)


class FromChatChunks:
    """A StreamTranslator that wraps a provider's chat-chunk translator (its usage is the usage) and
    turns choice 0's deltas into another API's events. Subclasses write the events: `_start` (once,
    before the first chunk's events), `_text`, `_call` (a tool-call delta), `_end` (once the inner
    stream is complete), and say when they are `complete`."""

    def __init__(self, inner: StreamTranslator) -> None:
        self._inner = inner
        self._started = False
        self._reason: str | None = None  # the chat finish_reason
        self.produced_chars = 0

    @property
    def usage(self) -> Usage | None:
        return self._inner.usage

    @property
    def complete(self) -> bool:
        raise NotImplementedError

    def feed(self, data: bytes) -> list[JSON]:
        return self._events(self._inner.feed(data))

    def finish(self) -> list[JSON]:
        out = self._events(self._inner.finish())
        if self._inner.complete and not self.complete:
            out.extend(self._end())
        return out

    def _events(self, chunks: list[JSON]) -> list[JSON]:
        out: list[JSON] = []
        for chunk in chunks:
            if not self._started:
                self._started = True
                self._start(out)
            for choice in chunk.get("choices") or ():
                if choice.get("index", 0) != 0:
                    continue
                delta = choice.get("delta") or {}
                if delta.get("content"):
                    self._text(out, delta["content"])
                for call in delta.get("tool_calls") or ():
                    self._call(out, call)
                if choice.get("finish_reason"):
                    self._reason = choice["finish_reason"]
        return out

    def _start(self, out: list[JSON]) -> None:
        raise NotImplementedError

    def _text(self, out: list[JSON], text: str) -> None:
        raise NotImplementedError

    def _call(self, out: list[JSON], call: JSON) -> None:
        raise NotImplementedError

    def _end(self) -> list[JSON]:
        raise NotImplementedError
