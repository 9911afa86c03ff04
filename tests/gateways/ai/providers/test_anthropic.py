"""Anthropic Messages API: OpenAI requests translated exactly, answers and streams translated back."""

import json

import pytest

from gateways.ai.providers.anthropic_stream import JSON_TOOL
from gateways.ai.providers.base import AdapterError
from gateways.ai.providers.registry import get_adapter, make_target
from tests.gateways.ai.providers.conftest import (
    CHAT,
    WEATHER_TOOL,
    content,
    finish_reasons,
    send,
    target,
    tool_arguments,
    translate,
)
from tests.mock_llm import KEYS

adapter = get_adapter("anthropic")
CONVERSATION = [
    {"role": "system", "content": "Be brief."},
    {"role": "developer", "content": [{"type": "text", "text": "Use metric units."}]},
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "Weather?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        ],
    },
    {
        "role": "assistant",
        "content": "Checking.",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            },
            {
                "id": "call_2",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
            },
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
    {"role": "tool", "tool_call_id": "call_2", "content": "25C"},
    {"role": "user", "content": "Thanks"},
]


def test_request_translation_is_exact():
    t = make_target("anthropic", "claude-sonnet-4-5", KEYS["anthropic"])
    body = {
        "model": "x",
        "messages": CONVERSATION,
        "tools": [WEATHER_TOOL],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": False,
        "stop": "END",
        "temperature": 1.5,
        "top_p": 0.9,
        "user": "u-1",
        "seed": 3,
    }
    request = adapter.chat_request(t, body, stream=True)
    assert (request.method, request.url) == ("POST", "https://api.anthropic.com/v1/messages")
    assert request.headers == {
        "Content-Type": "application/json",
        "x-api-key": KEYS["anthropic"],
        "anthropic-version": "2023-06-01",
    }
    assert request.json == {
        "model": "claude-sonnet-4-5",
        "system": "Be brief.\n\nUse metric units.",
        "max_tokens": 4096,
        "temperature": 1.0,
        "top_p": 0.9,
        "stop_sequences": ["END"],
        "metadata": {"user_id": "u-1"},
        "stream": True,
        "tools": [
            {
                "name": "get_weather",
                "description": "Weather of a city",
                "input_schema": WEATHER_TOOL["function"]["parameters"],
            }
        ],
        "tool_choice": {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Weather?"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"},
                    },
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
                    {"type": "tool_use", "id": "call_2", "name": "get_weather", "input": {"city": "Rome"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "call_1", "content": "18C"},
                    {"type": "tool_result", "tool_use_id": "call_2", "content": "25C"},
                    {"type": "text", "text": "Thanks"},
                ],
            },
        ],
    }


@pytest.mark.parametrize(
    ("choice", "expected"),
    [("auto", {"type": "auto"}), ("required", {"type": "any"}), ("none", {"type": "none"})],
)
def test_tool_choice(choice, expected):
    t = make_target("anthropic", "c", KEYS["anthropic"])
    body = {**CHAT, "tools": [WEATHER_TOOL], "tool_choice": choice, "max_completion_tokens": 50}
    request = adapter.chat_request(t, body, stream=False)
    assert request.json["tool_choice"] == expected and request.json["max_tokens"] == 50
    assert "stream" not in request.json


def test_base_url_with_or_without_v1():
    for base in ("https://proxy.example/anthropic", "https://proxy.example/anthropic/v1/"):
        t = make_target("anthropic", "c", KEYS["anthropic"], base, {"anthropic_beta": "tools-2024"})
        request = adapter.chat_request(t, CHAT, stream=False)
        assert request.url == "https://proxy.example/anthropic/v1/messages"
        assert request.headers["anthropic-beta"] == "tools-2024"


def test_what_anthropic_cannot_express_is_a_400():
    t = make_target("anthropic", "c", KEYS["anthropic"])
    for body in (
        {**CHAT, "n": 2},
        {"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]},
        {"messages": [{"role": "function", "content": "x"}]},
        {
            "messages": [
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "[1]"}}],
                }
            ]
        },
    ):
        with pytest.raises(AdapterError) as caught:
            adapter.chat_request(t, body, stream=False)
        assert caught.value.error.status == 400 and not caught.value.error.retryable
    with pytest.raises(NotImplementedError):
        adapter.embeddings_request(t, {"input": "x"})


def test_chat_against_the_mock(mock):
    t = target(mock, "anthropic", "claude-haiku")
    sent = send(adapter.chat_request(t, CHAT, stream=False))
    answer = adapter.chat_response(t, sent.json())
    assert answer["object"] == "chat.completion" and answer["id"] == "msg_mock"
    choice = answer["choices"][0]
    assert choice["message"] == {
        "role": "assistant",
        "content": "Hello from the mock. You said: What is the weather in Paris?",
    }
    assert choice["finish_reason"] == "stop"
    assert answer["usage"]["completion_tokens"] == 12 and answer["usage"]["prompt_tokens"] > 0
    assert mock.last().headers["x-api-key"] == KEYS["anthropic"]
    assert mock.last().body["system"] == "Be brief."


def test_tool_call_answer(mock):
    t = target(mock, "anthropic", "claude+tool-call")
    sent = send(adapter.chat_request(t, {**CHAT, "tools": [WEATHER_TOOL]}, stream=False))
    choice = adapter.chat_response(t, sent.json())["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    call = choice["message"]["tool_calls"][0]
    assert call["id"] == "toolu_mock_1" and call["function"] == {
        "name": "get_weather",
        "arguments": '{"city": "example"}',
    }


SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "city",
        "schema": {"type": "object", "properties": {"name": {"type": "string"}, "pop": {"type": "integer"}}},
    },
}


@pytest.mark.parametrize("stream", [False, True])
def test_json_schema_via_a_forced_tool(mock, stream):
    t = target(mock, "anthropic", "claude")
    request = adapter.chat_request(t, {**CHAT, "response_format": SCHEMA}, stream=stream)
    assert request.json["tool_choice"] == {"type": "tool", "name": JSON_TOOL}
    assert request.json["tools"][0]["input_schema"] == SCHEMA["json_schema"]["schema"]
    sent = send(request)
    if stream:
        chunks = translate(adapter.stream_translator(t), sent.body, 4)
        text, reasons = content(chunks), finish_reasons(chunks)
        assert not tool_arguments(chunks)
    else:
        choice = adapter.chat_response(t, sent.json())["choices"][0]
        text, reasons = choice["message"]["content"], [choice["finish_reason"]]
        assert "tool_calls" not in choice["message"]
    assert json.loads(text) == {"name": "example", "pop": 42} and reasons == ["stop"]


def test_json_with_tools_or_json_object_uses_instructions():
    t = make_target("anthropic", "c", KEYS["anthropic"])
    request = adapter.chat_request(
        t, {**CHAT, "tools": [WEATHER_TOOL], "response_format": SCHEMA}, stream=False
    )
    assert [tool["name"] for tool in request.json["tools"]] == ["get_weather"]
    assert "JSON schema" in request.json["system"] and request.json["system"].startswith("Be brief.")
    request = adapter.chat_request(t, {**CHAT, "response_format": {"type": "json_object"}}, stream=False)
    assert "single JSON object" in request.json["system"] and "tools" not in request.json


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (400, "invalid_request_error", False),
        (401, "authentication_error", False),
        (429, "rate_limit_error", True),
        (500, "api_error", True),
        (529, "api_error", True),
    ],
)
def test_errors(mock, status, kind, retryable):
    t = target(mock, "anthropic", f"claude+fail-{status}")
    sent = send(adapter.chat_request(t, CHAT, stream=False))
    error = adapter.error(sent.status, sent.body)
    assert error.type == kind and error.retryable is retryable
    assert error.status == (503 if status == 529 else status)
    assert KEYS["anthropic"] not in error.message


def test_wrong_key_and_in_stream_error(mock):
    bad = make_target("anthropic", "c", "sk-ant-wrong-0123456789abcdefghij", mock.base_url("anthropic"))
    sent = send(adapter.chat_request(bad, CHAT, stream=False))
    assert sent.status == 401 and adapter.error(sent.status, sent.body).type == "authentication_error"
    t = target(mock, "anthropic", "claude+stream-error")
    sent = send(adapter.chat_request(t, CHAT, stream=True))
    with pytest.raises(AdapterError) as caught:
        translate(adapter.stream_translator(t), sent.body, 10)
    assert caught.value.error.status == 503 and caught.value.error.retryable


def test_models_request(mock):
    t = target(mock, "anthropic")
    sent = send(adapter.models_request(t))
    assert sent.status == 200 and sent.json()["data"][0]["id"].startswith("claude")
