"""OpenAI, Azure and the OpenAI-compatible adapters: exact requests, answers and streams from the mock."""

import json

import pytest

from gateways.ai.providers.base import AdapterError
from gateways.ai.providers.registry import get_adapter, make_target
from tests.gateways.ai.providers.conftest import (
    CHAT,
    WEATHER_TOOL,
    send,
    target,
    translate,
)
from tests.mock_llm import KEYS

PASSTHROUGH = {
    "tools": [WEATHER_TOOL],
    "tool_choice": "auto",
    "response_format": {"type": "json_object"},
    "n": 2,
    "stop": ["END"],
    "seed": 7,
    "user": "user-42",
    "temperature": 0.2,
}


def test_openai_request_is_exact():
    adapter = get_adapter("openai")
    t = make_target("openai", "gpt-4o-mini", KEYS["openai"], options={"organization": "org-1"})
    request = adapter.chat_request(t, {**CHAT, **PASSTHROUGH, "stream_options": {"x": 1}}, stream=False)
    assert (request.method, request.url) == ("POST", "https://api.openai.com/v1/chat/completions")
    assert request.headers == {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {KEYS['openai']}",
        "OpenAI-Organization": "org-1",
    }
    assert request.json == {**CHAT, **PASSTHROUGH, "model": "gpt-4o-mini"}


def test_openai_stream_forces_usage_and_keeps_other_stream_options():
    adapter = get_adapter("openai")
    t = make_target("openai", "gpt-4o", KEYS["openai"])
    body = {**CHAT, "stream": False, "stream_options": {"include_usage": False, "other": True}}
    request = adapter.chat_request(t, body, stream=True)
    assert request.json["stream"] is True
    assert request.json["stream_options"] == {"include_usage": True, "other": True}
    assert body["stream_options"] == {"include_usage": False, "other": True}  # the caller's body untouched


def test_openai_chat_against_the_mock(mock):
    adapter, t = get_adapter("openai"), target(mock, "openai")
    sent = send(adapter.chat_request(t, {**CHAT, "n": 2, "seed": 1}, stream=False))
    assert sent.status == 200
    answer = adapter.chat_response(t, sent.json())
    assert answer["object"] == "chat.completion" and len(answer["choices"]) == 2
    assert answer["choices"][0]["message"]["content"].startswith("Hello from the mock")
    assert (
        answer["usage"]["total_tokens"]
        == answer["usage"]["prompt_tokens"] + answer["usage"]["completion_tokens"]
    )
    recorded = mock.last()
    assert recorded.path == "/v1/chat/completions" and recorded.body["seed"] == 1
    assert recorded.headers["authorization"] == f"Bearer {KEYS['openai']}"


def test_error_event_inside_a_stream_raises(mock):
    adapter, t = get_adapter("openai"), target(mock, "openai", "m1+stream-error")
    sent = send(adapter.chat_request(t, CHAT, stream=True))
    with pytest.raises(AdapterError) as caught:
        translate(adapter.stream_translator(t), sent.body, 11)
    assert caught.value.error.message == "mock stream error" and caught.value.error.retryable


def test_usage_reported_on_the_last_content_chunk_is_split_off():
    """Mistral and Together put usage on the chunk with finish_reason; Groq under x_groq."""
    translator = get_adapter("mistral").stream_translator(make_target("mistral", "m", "k" * 32))
    last = {
        "id": "c",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
    }
    out = translator.feed(
        f"data: {json.dumps({**last, 'usage': {'prompt_tokens': 3, 'completion_tokens': 4}})}\n\n".encode()
    )
    assert [c["choices"] for c in out][1] == [] and out[1]["usage"]["total_tokens"] == 7
    assert "usage" not in out[0]
    groq = get_adapter("groq").stream_translator(make_target("groq", "m", "gsk_x"))
    usage = {"prompt_tokens": 5, "completion_tokens": 6}
    out = groq.feed(f"data: {json.dumps({**last, 'x_groq': {'usage': usage}})}\n\ndata: [DONE]\n\n".encode())
    assert out[-1]["usage"]["total_tokens"] == 11 and "x_groq" not in out[0] and groq.complete


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (404, "not_found_error"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (503, "api_error"),
    ],
)
def test_openai_errors_map_by_status(mock, status, kind):
    adapter, t = get_adapter("openai"), target(mock, "openai", f"m1+fail-{status}")
    sent = send(adapter.chat_request(t, CHAT, stream=False))
    assert sent.status == status
    error = adapter.error(sent.status, sent.body)
    assert (error.status, error.type) == (status, kind)
    assert error.retryable == (status == 429 or status >= 500)
    if status == 429:
        assert sent.headers["retry-after"] == "1" and error.code == "rate_limit_exceeded"


def test_a_rejected_key_is_never_echoed(mock):
    adapter = get_adapter("openai")
    wrong = "sk-wrong-key-0123456789abcdefXYZ9"
    t = make_target("openai", "m1", wrong, mock.base_url("openai"))
    sent = send(adapter.chat_request(t, CHAT, stream=False))
    assert sent.status == 401 and b"XYZ9" in sent.body  # the mock quotes the key's tail, like OpenAI
    error = adapter.error(sent.status, sent.body)
    assert error.type == "authentication_error" and "XYZ9" not in error.message and wrong not in error.message
    quoted = json.dumps({"error": {"message": f"bad key {wrong} here", "type": "x"}}).encode()
    assert wrong not in get_adapter("openai").error(400, quoted).message


def test_non_json_and_bare_string_errors():
    adapter = get_adapter("ollama")
    assert adapter.error(502, b"<html>bad gateway</html>").message == "The ollama API answered HTTP 502"
    assert adapter.error(404, b'{"error": "model \\"x\\" not found"}').message == 'model "x" not found'


def test_azure_request_is_exact():
    adapter = get_adapter("azure")
    t = make_target(
        "azure", "my-gpt4o", KEYS["azure"], "https://res.openai.azure.com/", {"api_version": "2024-06-01"}
    )
    request = adapter.chat_request(t, CHAT, stream=True)
    assert (
        request.url
        == "https://res.openai.azure.com/openai/deployments/my-gpt4o/chat/completions?api-version=2024-06-01"
    )
    assert request.headers == {"Content-Type": "application/json", "api-key": KEYS["azure"]}
    assert "model" not in request.json and request.json["stream_options"] == {"include_usage": True}
    default = make_target("azure", "d", KEYS["azure"], "https://res.openai.azure.com")
    assert adapter.embeddings_request(default, {"input": "x"}).url.endswith(
        "/openai/deployments/d/embeddings?api-version=2024-10-21"
    )
    assert (
        adapter.models_request(default).url
        == "https://res.openai.azure.com/openai/models?api-version=2024-10-21"
    )


def test_azure_against_the_mock(mock):
    adapter, t = get_adapter("azure"), target(mock, "azure", "deploy-1")
    sent = send(adapter.chat_request(t, CHAT, stream=False))
    assert (
        sent.status == 200 and adapter.chat_response(t, sent.json())["choices"][0]["finish_reason"] == "stop"
    )
    assert mock.last().path == "/openai/deployments/deploy-1/chat/completions"
    assert mock.last().query == {"api-version": "2024-10-21"}


@pytest.mark.parametrize("provider", ["openai", "azure"])
def test_embeddings(mock, provider):
    adapter, t = get_adapter(provider), target(mock, provider, "text-embedding-3-small")
    sent = send(adapter.embeddings_request(t, {"model": "x", "input": ["a b", "c"], "dimensions": 4}))
    answer = adapter.embeddings_response(t, sent.json())
    assert [len(item["embedding"]) for item in answer["data"]] == [4, 4]
    assert answer["usage"]["prompt_tokens"] == 3


@pytest.mark.parametrize(
    ("provider", "url"),
    [
        ("mistral", "https://api.mistral.ai/v1/chat/completions"),
        ("groq", "https://api.groq.com/openai/v1/chat/completions"),
        ("deepseek", "https://api.deepseek.com/v1/chat/completions"),
        ("together", "https://api.together.xyz/v1/chat/completions"),
        ("openrouter", "https://openrouter.ai/api/v1/chat/completions"),
        ("ollama", "http://localhost:11434/v1/chat/completions"),
        ("vllm", "http://localhost:8000/v1/chat/completions"),
    ],
)
def test_compatible_providers_default_base_urls(provider, url):
    adapter = get_adapter(provider)
    request = adapter.chat_request(make_target(provider, "m", "key"), CHAT, stream=True)
    assert request.url == url
    # Mistral and Together refuse unknown fields but always send stream usage: no stream_options.
    assert ("stream_options" in request.json) == (provider not in ("mistral", "together"))


def test_self_hosted_without_a_key_sends_no_authorization():
    request = get_adapter("ollama").chat_request(make_target("ollama", "llama3:8b", ""), CHAT, stream=False)
    assert "Authorization" not in request.headers and request.json["model"] == "llama3:8b"


def test_compatible_base_url_override(mock):
    adapter, t = get_adapter("groq"), target(mock, "groq", "llama-3.1-8b")
    sent = send(adapter.chat_request(t, CHAT, stream=False))
    assert sent.status == 200 and mock.last().headers["authorization"] == f"Bearer {KEYS['groq']}"
    assert send(adapter.models_request(t)).json()["data"][0]["id"] == "gpt-4o-mini"
