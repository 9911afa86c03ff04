"""Fixtures of the provider adapter tests: the mock LLM server and helpers to send adapter requests."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
import pytest

from gateways.ai.providers.base import JSON, StreamTranslator, Target, UpstreamRequest
from gateways.ai.providers.registry import make_target
from tests.mock_llm import KEYS, MockLLM
from tests.projects.api.conftest import client_for, root_client  # noqa: F401  (shared fixtures)

SPLITS = (1, 3, 7, 13, 64)  # odd read sizes: events and UTF-8 characters cut anywhere


@pytest.fixture
def mock(mock_llm: MockLLM) -> MockLLM:
    """The run's mock LLM (tests/conftest.py, reset before each test), by the short name used here;
    counting tokens from the words, not answering the AI gateway tests' fixed `USAGE`."""
    mock_llm.usage = None
    return mock_llm


def target(mock: MockLLM, provider: str, model: str = "m1", **options: str) -> Target:
    key = KEYS.get(provider, KEYS["openai"])
    return make_target(provider, model, key, mock.base_url(provider), options)


@dataclass
class Sent:
    status: int
    headers: httpx.Headers
    body: bytes
    broken: bool = False  # the connection dropped before the body ended
    chunks: list[bytes] = field(default_factory=list)

    def json(self) -> JSON:
        return httpx.Response(self.status, content=self.body).json()


def send(request: UpstreamRequest, timeout: float = 10.0) -> Sent:
    """Send an adapter's request as the gateway would (no redirects, no proxies), reading raw bytes."""
    with httpx.Client(trust_env=False, follow_redirects=False, timeout=timeout) as client:
        with client.stream(
            request.method, request.url, headers=request.headers, json=request.json
        ) as response:
            chunks: list[bytes] = []
            broken = False
            try:
                for chunk in response.iter_raw():
                    chunks.append(chunk)
            except httpx.TransportError:
                broken = True
            return Sent(response.status_code, response.headers, b"".join(chunks), broken, chunks)


def translate(translator: StreamTranslator, body: bytes, size: int) -> list[JSON]:
    """Feed `body` in pieces of `size` bytes, then finish."""
    out: list[JSON] = []
    for start in range(0, len(body), size):
        out.extend(translator.feed(body[start : start + size]))
    out.extend(translator.finish())
    return out


def deltas(chunks: list[JSON]) -> list[JSON]:
    return [c["choices"][0]["delta"] for c in chunks if c["choices"]]


def content(chunks: list[JSON]) -> str:
    return "".join(d.get("content") or "" for d in deltas(chunks))


def finish_reasons(chunks: list[JSON]) -> list[str]:
    return [
        c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]
    ]


def tool_arguments(chunks: list[JSON]) -> dict[int, dict[str, str]]:
    """Tool calls re-assembled from deltas, the way OpenAI clients do: index → id, name, arguments."""
    calls: dict[int, dict[str, str]] = {}
    for delta in deltas(chunks):
        for call in delta.get("tool_calls") or []:
            entry = calls.setdefault(call["index"], {"id": "", "name": "", "arguments": ""})
            entry["id"] = call.get("id") or entry["id"]
            function = call.get("function") or {}
            entry["name"] = function.get("name") or entry["name"]
            entry["arguments"] += function.get("arguments") or ""
    return calls


CHAT = {
    "model": "ignored",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is the weather in Paris?"},
    ],
}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather of a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
