"""Google Gemini: generateContent and streamGenerateContent translated both ways, embeddings, errors."""

import json

import pytest

from gateways.ai.providers.base import AdapterError
from gateways.ai.providers.registry import get_adapter, make_target
from tests.gateways.ai.providers.conftest import (
    CHAT,
    WEATHER_TOOL,
    send,
    target,
)
from tests.mock_llm import KEYS

adapter = get_adapter("gemini")


def test_request_translation_is_exact():
    t = make_target("gemini", "gemini-2.0-flash", KEYS["gemini"])
    body = {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Look"},
                    {"type": "image_url", "image_url": {"url": "https://img.example/a.png"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_9",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_9", "content": '{"temp": 18}'},
            {"role": "tool", "tool_call_id": "unknown", "content": "plain"},
        ],
        "tools": [
            WEATHER_TOOL,
            {
                "type": "function",
                "function": {"name": "now", "parameters": {"type": "object", "properties": {}}},
            },
        ],
        "tool_choice": "required",
        "temperature": 0.3,
        "top_p": 0.8,
        "n": 2,
        "seed": 5,
        "max_tokens": 100,
        "stop": ["END"],
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": "x",
                "schema": {
                    "type": "object",
                    "properties": {"a": {"type": ["string", "null"]}},
                    "additionalProperties": False,
                    "required": ["a"],
                },
            },
        },
    }
    request = adapter.chat_request(t, body, stream=False)
    assert (
        request.url
        == "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:generateContent"
    )
    assert request.headers == {"Content-Type": "application/json", "x-goog-api-key": KEYS["gemini"]}
    assert KEYS["gemini"] not in request.url
    assert request.json == {
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": "Look"},
                    {"fileData": {"mimeType": "image/png", "fileUri": "https://img.example/a.png"}},
                ],
            },
            {
                "role": "model",
                "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}],
            },
            {
                "role": "user",
                "parts": [
                    {"functionResponse": {"name": "get_weather", "response": {"temp": 18}}},
                    {"functionResponse": {"name": "tool", "response": {"content": "plain"}}},
                ],
            },
        ],
        "tools": [
            {
                "functionDeclarations": [
                    {
                        "name": "get_weather",
                        "description": "Weather of a city",
                        "parameters": {
                            "type": "object",
                            "properties": {"city": {"type": "string"}},
                            "required": ["city"],
                        },
                    },
                    {"name": "now"},
                ]
            }
        ],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
        "generationConfig": {
            "temperature": 0.3,
            "topP": 0.8,
            "candidateCount": 2,
            "seed": 5,
            "maxOutputTokens": 100,
            "stopSequences": ["END"],
            "responseMimeType": "application/json",
            "responseSchema": {
                "type": "object",
                "properties": {"a": {"type": "string", "nullable": True}},
                "required": ["a"],
            },
        },
    }


def test_stream_url_and_named_tool_choice():
    t = make_target("gemini", "models/gemini-pro", KEYS["gemini"], "https://proxy.example/v1beta/")
    body = {
        **CHAT,
        "tools": [WEATHER_TOOL],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    }
    request = adapter.chat_request(t, body, stream=True)
    assert request.url == "https://proxy.example/v1beta/models/gemini-pro:streamGenerateContent?alt=sse"
    assert request.json["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}
    }


def test_chat_against_the_mock(mock):
    t = target(mock, "gemini", "gemini-2.0-flash")
    sent = send(adapter.chat_request(t, {**CHAT, "n": 2}, stream=False))
    answer = adapter.chat_response(t, sent.json())
    assert [c["message"]["content"] for c in answer["choices"]] == [
        "Hello from the mock. You said: What is the weather in Paris?"
    ] * 2
    assert answer["choices"][0]["finish_reason"] == "stop" and answer["id"] == "gemini-mock"
    assert answer["usage"]["completion_tokens"] == 12
    assert mock.last().path == "/v1beta/models/gemini-2.0-flash:generateContent"


def test_tool_call_and_json_answers(mock):
    t = target(mock, "gemini", "gemini+tool-call")
    sent = send(adapter.chat_request(t, {**CHAT, "tools": [WEATHER_TOOL]}, stream=False))
    choice = adapter.chat_response(t, sent.json())["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    call = choice["message"]["tool_calls"][0]
    assert call["id"].startswith("call_") and call["function"] == {
        "name": "get_weather",
        "arguments": '{"city": "example"}',
    }
    t = target(mock, "gemini", "gemini")
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    body = {
        **CHAT,
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}},
    }
    sent = send(adapter.chat_request(t, body, stream=False))
    assert json.loads(adapter.chat_response(t, sent.json())["choices"][0]["message"]["content"]) == {"n": 42}


def test_blocked_prompt_and_finish_reasons():
    t = make_target("gemini", "g", KEYS["gemini"])
    blocked = adapter.chat_response(t, {"promptFeedback": {"blockReason": "SAFETY"}})
    assert blocked["choices"][0]["finish_reason"] == "content_filter"
    cut = {
        "candidates": [
            {
                "content": {"parts": [{"text": "a"}, {"text": "hidden", "thought": True}]},
                "finishReason": "MAX_TOKENS",
            }
        ]
    }
    answer = adapter.chat_response(t, cut)
    assert (
        answer["choices"][0]["finish_reason"] == "length"
        and answer["choices"][0]["message"]["content"] == "a"
    )


def test_embeddings(mock):
    t = target(mock, "gemini", "text-embedding-004")
    single = adapter.embeddings_request(t, {"input": "hello", "dimensions": 4})
    assert single.url.endswith("/models/text-embedding-004:embedContent")
    assert single.json == {"content": {"parts": [{"text": "hello"}]}, "outputDimensionality": 4}
    answer = adapter.embeddings_response(t, send(single).json())
    assert answer["object"] == "list" and len(answer["data"][0]["embedding"]) == 4
    batch = adapter.embeddings_request(t, {"input": ["a", "b"]})
    assert batch.url.endswith(":batchEmbedContents")
    assert batch.json["requests"][1] == {
        "model": "models/text-embedding-004",
        "content": {"parts": [{"text": "b"}]},
    }
    answer = adapter.embeddings_response(t, send(batch).json())
    assert [item["index"] for item in answer["data"]] == [0, 1]
    with pytest.raises(AdapterError):
        adapter.embeddings_request(t, {"input": [[1, 2, 3]]})


@pytest.mark.parametrize(
    ("status", "kind"),
    [(400, "invalid_request_error"), (404, "not_found_error"), (429, "rate_limit_error"), (500, "api_error")],
)
def test_errors(mock, status, kind):
    t = target(mock, "gemini", f"gemini+fail-{status}")
    sent = send(adapter.chat_request(t, CHAT, stream=False))
    error = adapter.error(sent.status, sent.body)
    assert (error.status, error.type) == (status, kind) and error.code


def test_invalid_key_answer_is_an_authentication_error(mock):
    body = json.dumps(
        {
            "error": {
                "code": 400,
                "message": "API key not valid. Please pass a valid API key.",
                "status": "INVALID_ARGUMENT",
                "details": [{"reason": "API_KEY_INVALID"}],
            }
        }
    ).encode()
    error = adapter.error(400, body)
    assert (error.status, error.type) == (401, "authentication_error")
    bad = make_target("gemini", "g", "AIza" + "X" * 35, mock.base_url("gemini"))
    sent = send(adapter.chat_request(bad, CHAT, stream=False))
    assert adapter.error(sent.status, sent.body).type == "authentication_error"
    assert send(adapter.models_request(target(mock, "gemini"))).json()["models"]
