"""Failover: try a chain of targets in order on 429, 5xx, timeout or connection error, never on other 4xx.

Each attempt has its own timeout (the credential's `timeout` option, else PROMPTGATE_AI_ATTEMPT_TIMEOUT)
covering the response headers and, for streams, the first translated chunk: a stream fails over only
before its first byte reached the client. Every attempt is appended to the request log's `attempts`.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import orjson
from django.conf import settings

from gateways.ai.errors import OpenAIError
from gateways.ai.providers.base import (
    JSON,
    AdapterError,
    ProviderFailure,
    StreamTranslator,
    UpstreamRequest,
)
from gateways.ai.routing import Candidate
from gateways.common import process_state
from gateways.common.router import GatewayRequest
from gateways.common.transport import http_client
from promptgate.errors import ErrorCode, PromptGateError
from webhooks import emit

# Long enough for a long non-streamed completion; a stream only needs its first chunk within it.
MAX_ERROR_BODY = 64 * 1024
MAX_RESPONSE_BODY = 64 * 1024 * 1024


def attempt_timeout(candidate: Candidate) -> float:
    raw = candidate.target.options.get("timeout")
    try:
        if raw:
            return max(0.1, float(raw))
    except ValueError:
        pass  # a malformed option falls back to the default rather than failing every call
    return settings.PROMPTGATE_AI_ATTEMPT_TIMEOUT


class _Retryable(Exception):
    """An attempt failed in a way the next target may fix (429, 5xx, timeout, connection)."""

    def __init__(self, error: OpenAIError) -> None:
        super().__init__(error.message)
        self.error = error


def provider_error(err: ProviderFailure) -> OpenAIError:
    """A provider's failure as the client sees it: our credential's problems are ours (502), not theirs."""
    if err.status == 401:
        return OpenAIError(err.message, code=ErrorCode.PROVIDER_AUTH_FAILED, status=502, type="api_error")
    if err.status == 429:
        return OpenAIError(err.message, code=err.code or ErrorCode.UPSTREAM_RATE_LIMITED, status=429)
    if err.status >= 500:
        return OpenAIError(err.message, code=ErrorCode.UPSTREAM_ERROR, status=502, type="api_error")
    return OpenAIError(
        err.message, code=err.code or ErrorCode.UPSTREAM_REJECTED, status=err.status, type=err.type
    )


def transport_error(exc: BaseException) -> OpenAIError:
    if isinstance(exc, TimeoutError):
        return OpenAIError("upstream did not respond in time", code=ErrorCode.UPSTREAM_TIMEOUT, status=504)
    status, code, message = http_client.classify_upstream_error(exc)
    return OpenAIError(message, code=code, status=status)


# What can end an answer's stream once its first byte went out (it is then reported in the stream).
STREAM_ERRORS = (AdapterError, http_client.UpstreamError, TimeoutError, OSError)


def stream_error(exc: BaseException) -> OpenAIError:
    """One of STREAM_ERRORS as the client sees it."""
    return provider_error(exc.error) if isinstance(exc, AdapterError) else transport_error(exc)


@dataclass
class Attempts:
    """The attempts of one request, recorded into greq.log["attempts"] as they happen."""

    greq: GatewayRequest
    rows: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.greq.log["attempts"] = self.rows

    def add(self, candidate: Candidate, started: float, status: int, error: str = "") -> None:
        self.rows.append(
            {
                "provider": candidate.target.provider,
                "model": candidate.target.model,
                "status": status,
                "error": error,
                "ms": round((time.perf_counter() - started) * 1000, 3),
            }
        )
        upstream = (self.greq.upstream_ms or 0.0) + (time.perf_counter() - started) * 1000
        self.greq.upstream_ms = upstream
        self.greq.log["upstream_ms"] = round(upstream, 3)
        provider_health.observe(candidate.target.provider, status, error)


class ProviderHealth:
    """AI providers as this process sees them, for webhooks' upstream.down / upstream.recovered.

    A 429, a 5xx or no answer marks a provider down, a success marks it up; a 4xx is the request's
    fault and changes nothing. Only a change is announced (a provider healthy from the start is not),
    through the events' batched writer: a dict lookup on the request path.
    """

    def __init__(self) -> None:
        self.up: dict[str, bool] = {}

    def clear(self) -> None:
        self.up.clear()

    def observe(self, provider: str, status: int, error: str = "") -> None:
        if status == 200:
            ok = True
        elif status == 0 or status == 429 or status >= 500:
            ok = False
        else:
            return
        known = self.up.get(provider)
        if known is ok or (known is None and ok):
            self.up[provider] = ok
            return
        self.up[provider] = ok

        reason = error or (f"HTTP {status}" if status else "no answer")
        emit.upstream_changed("ai_provider", zlib.crc32(provider.encode()), provider, ok=ok, error=reason)


provider_health = process_state.keep("ai.provider_health", ProviderHealth())


def _send(upstream: UpstreamRequest, timeout: float) -> Coroutine[Any, Any, http_client.UpstreamResponse]:
    """The attempt's call, not yet awaited (so a build error fails the attempt like a send error)."""
    headers = upstream.headers
    content = None
    if upstream.json is not None:
        content = orjson.dumps(upstream.json)
        if not any(name.lower() == "content-type" for name in headers):
            headers = {**headers, "Content-Type": "application/json"}
    return http_client.get_client().send(
        upstream.method, upstream.url, headers=headers, content=content, timeout=http_client.timeout(timeout)
    )


async def _error_of(candidate: Candidate, response: http_client.UpstreamResponse) -> ProviderFailure:
    body = await response.read(MAX_ERROR_BODY, truncate=True)
    return candidate.adapter.error(response.status, body)


def _fail(attempts: Attempts, candidate: Candidate, started: float, error: OpenAIError, status: int) -> None:
    attempts.add(candidate, started, status, error.code)
    if error.status == 429 or error.status >= 500:
        raise _Retryable(error)
    raise error


def _as_error(exc: BaseException) -> tuple[OpenAIError, int]:
    """An attempt's failure as (client error, upstream status or 0)."""
    if isinstance(exc, AdapterError):
        return provider_error(exc.error), exc.error.status
    if isinstance(exc, OpenAIError):
        return exc, exc.status
    if isinstance(exc, PromptGateError):  # an unusable answer: as good as a 502 from the provider
        return OpenAIError(exc.message, code=exc.code, status=502, type="api_error"), 502
    return transport_error(exc), 0


ATTEMPT_FAILURES = (AdapterError, PromptGateError, http_client.UpstreamError, TimeoutError, OSError)


async def call_json(
    greq: GatewayRequest, chain: list[Candidate], build: Callable[[Candidate], UpstreamRequest]
) -> tuple[Candidate, JSON]:
    """Non-streaming call through the chain: the winning candidate and the provider's JSON answer."""
    attempts = Attempts(greq)
    last: OpenAIError | None = None
    for candidate in chain:
        started = time.perf_counter()
        timeout = attempt_timeout(candidate)
        try:
            try:
                call = _send(build(candidate), timeout)
                async with asyncio.timeout(timeout):
                    data = await _send_json(candidate, call)
            except ATTEMPT_FAILURES as exc:
                _fail(attempts, candidate, started, *_as_error(exc))
            else:
                attempts.add(candidate, started, 200)
                return candidate, data
        except _Retryable as exc:
            last = exc.error
    assert last is not None
    raise last


async def _send_json(candidate: Candidate, call: Coroutine[Any, Any, http_client.UpstreamResponse]) -> JSON:
    response = await call
    try:
        if response.status != 200:
            raise AdapterError(await _error_of(candidate, response))
        try:
            body = await response.read(MAX_RESPONSE_BODY)
        except http_client.BodyTooLarge:
            raise PromptGateError(
                "upstream response too large", code=ErrorCode.UPSTREAM_ERROR, status=502
            ) from None
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise PromptGateError(
                "upstream sent an invalid response", code=ErrorCode.UPSTREAM_ERROR, status=502
            ) from None
        if not isinstance(data, dict):
            raise PromptGateError(
                "upstream sent an invalid response", code=ErrorCode.UPSTREAM_ERROR, status=502
            )
        return data
    finally:
        await response.aclose()


@dataclass
class OpenStream:
    """A stream that produced its first chunks: from here on the client is committed to this target."""

    candidate: Candidate
    response: http_client.UpstreamResponse
    translator: StreamTranslator
    first: list[JSON]
    raw: AsyncIterator[bytes]
    ended: bool = False  # the whole stream came with the first chunks

    async def batches(self) -> AsyncIterator[list[JSON]]:
        """The rest of the stream, one list per upstream read: what arrived together can leave together.

        Upstream failures after the first byte end it (no failover).
        """
        yield self.first
        if self.ended:
            return
        async for data in self.raw:
            batch = self.translator.feed(data)
            if batch:
                yield batch
        tail = self.translator.finish()
        if tail:
            yield tail

    async def chunks(self) -> AsyncIterator[JSON]:
        """The rest of the stream, chunk by chunk."""
        async for batch in self.batches():
            for chunk in batch:
                yield chunk

    async def close(self) -> None:
        await self.response.aclose()


async def open_stream(
    greq: GatewayRequest,
    chain: list[Candidate],
    build: Callable[[Candidate], UpstreamRequest],
    translator: Callable[[Candidate], StreamTranslator] | None = None,
) -> OpenStream:
    """Open a stream through the chain: the first target whose first chunk arrived in time.

    `translator` makes each attempt's stream translator (default: the adapter's chat translator).
    """
    attempts = Attempts(greq)
    last: OpenAIError | None = None
    for candidate in chain:
        started = time.perf_counter()
        timeout = attempt_timeout(candidate)
        response: http_client.UpstreamResponse | None = None
        try:
            try:
                call = _send(build(candidate), timeout)
                async with asyncio.timeout(timeout):
                    response = await call
                    if response.status != 200:
                        raise AdapterError(await _error_of(candidate, response))
                    make = translator or (lambda c: c.adapter.stream_translator(c.target))
                    stream = await _first_chunks(candidate, response, make(candidate))
            except ATTEMPT_FAILURES as exc:
                if response is not None:
                    await response.aclose()
                _fail(attempts, candidate, started, *_as_error(exc))
            else:
                attempts.add(candidate, started, 200)
                return stream
        except _Retryable as exc:
            last = exc.error
    assert last is not None
    raise last


async def _first_chunks(
    candidate: Candidate, response: http_client.UpstreamResponse, translator: StreamTranslator
) -> OpenStream:
    raw = response.aiter_raw()
    async for data in raw:
        first = translator.feed(data)
        if first:
            return OpenStream(candidate, response, translator, first, raw)
    first = translator.finish()
    if not first:
        raise http_client.UpstreamError("upstream closed the connection")
    return OpenStream(candidate, response, translator, first, raw, ended=True)
