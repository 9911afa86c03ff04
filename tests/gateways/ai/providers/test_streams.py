"""What every adapter's stream translator owes its clients, provider by provider against the mock: the same
OpenAI chunks in any read split, tool-call deltas re-assembled, and a cut stream never reported complete."""

import pytest

from gateways.ai.providers.registry import get_adapter
from tests.gateways.ai.providers.conftest import (
    CHAT,
    SPLITS,
    WEATHER_TOOL,
    content,
    finish_reasons,
    send,
    target,
    tool_arguments,
    translate,
)

ANSWER = "Hello from the mock. You said: What is the weather in Paris?"  # 12 words: 12 completion tokens
STREAM_ID = {"openai": "chatcmpl-mock", "anthropic": "msg_mock", "gemini": None}  # None: any one id


@pytest.mark.parametrize("size", SPLITS)
@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
def test_stream_in_any_split(mock, provider, size):
    adapter, t = get_adapter(provider), target(mock, provider)
    sent = send(adapter.chat_request(t, CHAT, stream=True))
    translator = adapter.stream_translator(t)
    chunks = translate(translator, sent.body, size)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert content(chunks) == ANSWER
    assert finish_reasons(chunks) == ["stop"]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 12
    assert chunks[-1]["usage"]["total_tokens"] == chunks[-1]["usage"]["prompt_tokens"] + 12
    assert translator.complete and translator.usage is not None and translator.usage.completion_tokens == 12
    ids = {c["id"] for c in chunks}
    assert len(ids) == 1 and (STREAM_ID[provider] is None or ids == {STREAM_ID[provider]})
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}


@pytest.mark.parametrize(
    ("provider", "size", "call_id"),
    [
        ("openai", 5, "call_mock_1"),
        ("azure", 5, "call_mock_1"),
        ("groq", 5, "call_mock_1"),
        ("anthropic", 9, "toolu_mock_1"),
        ("gemini", 8, "call_"),  # Gemini sends no id: the adapter makes one up
    ],
)
def test_tool_call_deltas(mock, provider, size, call_id):
    adapter, t = get_adapter(provider), target(mock, provider, "m1+tool-call")
    sent = send(adapter.chat_request(t, {**CHAT, "tools": [WEATHER_TOOL]}, stream=True))
    chunks = translate(adapter.stream_translator(t), sent.body, size)
    calls = tool_arguments(chunks)
    assert list(calls) == [0]
    assert calls[0]["id"].startswith(call_id) if provider == "gemini" else calls[0]["id"] == call_id
    assert (calls[0]["name"], calls[0]["arguments"]) == ("get_weather", '{"city": "example"}')
    assert finish_reasons(chunks) == ["tool_calls"]


@pytest.mark.parametrize(("provider", "size"), [("openai", 7), ("anthropic", 6), ("gemini", 5)])
def test_cut_stream_is_not_complete(mock, provider, size):
    adapter, t = get_adapter(provider), target(mock, provider, "m1+cut-mid-stream")
    sent = send(adapter.chat_request(t, CHAT, stream=True))
    translator = adapter.stream_translator(t)
    chunks = translate(translator, sent.body, size)
    assert sent.broken and not translator.complete
    assert all(c["choices"] for c in chunks)  # no usage chunk claims a finished answer
    if provider == "openai":  # usage comes last, so a cut stream has none
        assert translator.usage is None
    if provider == "anthropic":  # message_start carries the prompt's count: kept
        assert translator.usage is not None and translator.usage.prompt_tokens > 0
