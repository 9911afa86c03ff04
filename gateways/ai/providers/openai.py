"""OpenAI's Chat Completions and Embeddings: the gateway's own format, so mostly a passthrough."""

from __future__ import annotations

import json
import re

import orjson

from gateways.ai.providers import errors
from gateways.ai.providers.base import (
    JSON,
    AdapterError,
    ProviderFailure,
    Target,
    UpstreamRequest,
    Usage,
)
from gateways.ai.providers.sse import Event, JSONEventStream, usage_chunk


def _loads(text: str) -> object:
    """orjson for every chunk (several times faster); the standard parser for what orjson refuses and
    JSON allows in practice (integers past 64 bits, NaN), so no chunk is dropped for being unusual."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


class OpenAIStreamTranslator(JSONEventStream):
    """OpenAI chunks pass through; usage is normalised into one last `choices: []` chunk."""

    def __init__(self, provider: str) -> None:
        super().__init__()
        self._provider = provider
        self._usage: Usage | None = None

    @property
    def usage(self) -> Usage | None:
        return self._usage

    def _decode(self, event: Event) -> JSON | None:
        text = event.data.strip()
        if text == "[DONE]":
            self._done = True
            return None
        try:
            data = _loads(text)
        except ValueError:
            return None  # keep-alives and the odd non-JSON line some servers send
        if not isinstance(data, dict):
            return None
        if "error" in data:
            raise AdapterError(errors.from_openai(self._provider, 500, text.encode()))
        return data

    def _event(self, kind: str, data: JSON) -> list[JSON]:
        return self._normalise(data)

    def _normalise(self, data: JSON) -> list[JSON]:
        # Groq reports stream usage under x_groq; Mistral and Together on the last chunk with choices.
        raw_usage = data.pop("usage", None) or (data.pop("x_groq", None) or {}).get("usage")
        if not raw_usage:
            return [data] if data.get("choices") else []
        self._usage = Usage(
            int(raw_usage.get("prompt_tokens") or 0), int(raw_usage.get("completion_tokens") or 0)
        )
        final = usage_chunk(data.get("id", ""), data.get("model", ""), data.get("created", 0), self._usage)
        return [data, final] if data.get("choices") else [final]


class OpenAIAdapter:
    """api.openai.com, or any server speaking its API at `base_url` (see openai_compatible.py)."""

    name = "openai"
    default_base_url = "https://api.openai.com/v1"
    key_pattern: re.Pattern[str] | None = re.compile(r"sk-[A-Za-z0-9_\-]{20,200}")
    stream_usage_option = True  # accepts stream_options.include_usage
    token_ids_input = True  # embeddings accept arrays of token ids as input
    responses_native = True  # has the Responses API (/v1/responses); others get it translated to chat

    def base(self, target: Target) -> str:
        return (target.base_url or self.default_base_url).rstrip("/")

    def headers(self, target: Target) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if target.api_key:
            headers["Authorization"] = f"Bearer {target.api_key}"
        for option, header in (("organization", "OpenAI-Organization"), ("project", "OpenAI-Project")):
            if target.options.get(option):
                headers[header] = str(target.options[option])
        return headers

    def url(self, target: Target, endpoint: str) -> str:
        return f"{self.base(target)}/{endpoint}"

    def chat_request(self, target: Target, body: JSON, *, stream: bool) -> UpstreamRequest:
        payload = {**body, "model": target.model}
        payload.pop("stream_options", None)
        if stream:
            payload["stream"] = True
            if self.stream_usage_option:
                options = body.get("stream_options")
                payload["stream_options"] = {**(options if isinstance(options, dict) else {})}
                payload["stream_options"]["include_usage"] = True
        else:
            payload.pop("stream", None)
        return UpstreamRequest("POST", self.url(target, "chat/completions"), self.headers(target), payload)

    def chat_response(self, target: Target, data: JSON) -> JSON:
        data.setdefault("object", "chat.completion")
        data.pop("x_groq", None)
        if not isinstance(data.get("usage"), dict):
            data["usage"] = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        return data

    def responses_request(self, target: Target, body: JSON, *, stream: bool) -> UpstreamRequest:
        """A Responses API request, sent as it came (input and model already resolved)."""
        payload = {**body, "model": target.model}
        if stream:
            payload["stream"] = True
        else:
            payload.pop("stream", None)
        return UpstreamRequest("POST", self.url(target, "responses"), self.headers(target), payload)

    def stream_translator(self, target: Target) -> OpenAIStreamTranslator:
        return OpenAIStreamTranslator(self.name)

    def embeddings_request(self, target: Target, body: JSON) -> UpstreamRequest:
        payload = {**body, "model": target.model}
        return UpstreamRequest("POST", self.url(target, "embeddings"), self.headers(target), payload)

    def embeddings_response(self, target: Target, data: JSON) -> JSON:
        data.setdefault("object", "list")
        return data

    def models_request(self, target: Target) -> UpstreamRequest:
        headers = {k: v for k, v in self.headers(target).items() if k != "Content-Type"}
        return UpstreamRequest("GET", self.url(target, "models"), headers)

    def error(self, status: int, body: bytes) -> ProviderFailure:
        return errors.from_openai(self.name, status, body)

    def validate_api_key(self, api_key: str) -> bool:
        if self.key_pattern is None:
            return lenient_key(api_key)
        return bool(self.key_pattern.fullmatch(api_key))


def lenient_key(api_key: str) -> bool:
    """Self-hosted servers take any token, or none: only whitespace and control characters are refused."""
    return len(api_key) <= 500 and not re.search(r"[\s\x00-\x1f\x7f]", api_key)
