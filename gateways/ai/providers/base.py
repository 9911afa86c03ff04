"""The one contract every provider adapter implements: OpenAI's chat format in, the provider's wire out.

The gateway speaks OpenAI's Chat Completions and Embeddings formats to its clients. An adapter turns
such a request into the provider's HTTP request, and the provider's answer (JSON or a stream of SSE
events) back into OpenAI's shapes, plus the usage and a normalised error. Adapters do no I/O: the
gateway sends the request through the shared SSRF-safe client, so failover, limits, budgets and logs
are written once, outside them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

JSON = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Target:
    """One attempt of a chain: which provider and model, with which credential (decrypted, in memory)."""

    provider: str  # adapter name: "openai", "azure", "anthropic", "gemini", "mistral", "groq", …
    model: str
    api_key: str
    base_url: str  # the credential's base URL, or the adapter's default
    options: Mapping[str, str] = field(default_factory=dict)  # e.g. Azure api_version


@dataclass(slots=True)
class UpstreamRequest:
    method: str
    url: str
    headers: dict[str, str]
    json: JSON | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class ProviderFailure:
    """A provider's failure in OpenAI's terms; `retryable` decides failover (429, 5xx only)."""

    status: int
    type: str  # OpenAI error type: invalid_request_error, authentication_error, rate_limit_error, …
    message: str
    code: str | None = None

    @property
    def retryable(self) -> bool:
        return self.status == 429 or self.status >= 500


class AdapterError(Exception):
    """Raised by an adapter that cannot go on: a request the provider cannot express (400, before any
    I/O), or an error event inside an upstream stream (the status the provider gave it)."""

    def __init__(self, error: ProviderFailure) -> None:
        super().__init__(error.message)
        self.error = error


class StreamTranslator(Protocol):
    """Stateful translation of one upstream stream into OpenAI `chat.completion.chunk` objects."""

    def feed(self, data: bytes) -> list[JSON]:
        """Raw bytes as they arrive (any split); returns the chunks completed by them."""
        ...

    def finish(self) -> list[JSON]:
        """End of the upstream stream: any last chunks."""
        ...

    @property
    def usage(self) -> Usage | None:
        """Usage seen in the stream so far (None when the provider sent none)."""
        ...

    @property
    def complete(self) -> bool:
        """True once the provider's end-of-stream marker was seen (False after a cut stream)."""
        ...


class ProviderAdapter(Protocol):
    name: str
    default_base_url: str

    def chat_request(self, target: Target, body: JSON, *, stream: bool) -> UpstreamRequest:
        """`body` is an OpenAI chat completion request with `model` already resolved to target.model.

        When streaming, ask the provider to include usage in the stream where it can.
        """
        ...

    def chat_response(self, target: Target, data: JSON) -> JSON:
        """The provider's JSON answer as an OpenAI `chat.completion` object (with `usage`)."""
        ...

    def stream_translator(self, target: Target) -> StreamTranslator: ...

    def embeddings_request(self, target: Target, body: JSON) -> UpstreamRequest:
        """Raise NotImplementedError when the provider has no embeddings API."""
        ...

    def embeddings_response(self, target: Target, data: JSON) -> JSON: ...

    def models_request(self, target: Target) -> UpstreamRequest:
        """A cheap authenticated call (list models) that proves a credential and base URL work."""
        ...

    def error(self, status: int, body: bytes) -> ProviderFailure:
        """Normalise the provider's error answer (never echo a credential)."""
        ...

    def validate_api_key(self, api_key: str) -> bool:
        """Offline format check of a key for this provider ("Invalid API key format" when False)."""
        ...


def usage_of(response: JSON) -> Usage:
    """Usage of an OpenAI-shaped response or final chunk (zeros when absent)."""
    usage = response.get("usage") or {}
    return Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))
