"""Anthropic's Messages API with the official `anthropic` SDK: Anthropic natively, others translated."""

from __future__ import annotations

import json
from collections.abc import Iterator

import anthropic
import httpx
import pytest

from tests.helpers import anthropic_sdk, log_rows

pytestmark = pytest.mark.django_db(transaction=True)
MODELS = ["anthropic:claude-3-5-haiku", "openai:gpt-4o-mini", "gemini:gemini-2.0-flash"]
TOOLS = [
    {
        "name": "get_weather",
        "description": "Weather of a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


@pytest.fixture
def claude(providers, gateway_proc) -> Iterator[anthropic.Anthropic]:
    with anthropic_sdk(gateway_proc, providers.uuid, providers.token) as client:
        yield client


@pytest.mark.parametrize("model", MODELS)
def test_create_with_system_and_image(providers, claude, mock_llm, model):
    raw = claude.messages.with_raw_response.create(
        model=model,
        max_tokens=64,
        system="Be brief.",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "hello there"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PIXEL}},
                ],
            }
        ],
    )
    message = raw.parse()
    provider = model.split(":")[0]
    assert raw.headers["x-promptgate-provider"] == provider
    assert message.type == "message" and message.role == "assistant" and message.stop_reason == "end_turn"
    assert "You said: hello there" in message.content[0].text
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    sent = mock_llm.last()
    if provider == "anthropic":  # as it came
        assert sent.path == "/v1/messages" and sent.body["system"] == "Be brief."
        assert sent.body["messages"][0]["content"][1]["source"]["data"] == PIXEL
    elif provider == "openai":
        assert sent.body["messages"][0] == {"role": "system", "content": "Be brief."}
        assert sent.body["messages"][1]["content"][1]["image_url"]["url"] == f"data:image/png;base64,{PIXEL}"
        assert sent.body["max_tokens"] == 64
    (row,) = log_rows(providers.project, 1)
    assert (row.endpoint, row.provider, row.status) == ("messages", provider, 200)
    assert row.tokens_out == message.usage.output_tokens


@pytest.mark.parametrize("model", MODELS)
def test_stream_text_and_tools(claude, model):
    with claude.messages.stream(
        model=model, max_tokens=64, messages=[{"role": "user", "content": "hello there"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert "You said: hello there" in text and final.content[0].text == text
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0
    with claude.messages.stream(
        model=f"{model}+tool-call",
        max_tokens=64,
        tools=TOOLS,
        messages=[{"role": "user", "content": "Weather in Paris?"}],
    ) as stream:
        final = stream.get_final_message()
    (use,) = [block for block in final.content if block.type == "tool_use"]
    assert use.name == "get_weather" and use.input == {"city": "example"} and final.stop_reason == "tool_use"


@pytest.mark.parametrize("model", MODELS)
def test_tool_result_round_trip(claude, mock_llm, model):
    first = claude.messages.create(
        model=f"{model}+tool-call",
        max_tokens=64,
        tools=TOOLS,
        messages=[{"role": "user", "content": "Weather?"}],
    )
    (use,) = [block for block in first.content if block.type == "tool_use"]
    answer = claude.messages.create(
        model=model,
        max_tokens=64,
        tools=TOOLS,
        messages=[
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": [block.model_dump() for block in first.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "18C"}]},
        ],
    )
    assert answer.content[0].text
    sent = json.dumps(mock_llm.last().body)
    assert "18C" in sent and "get_weather" in sent


def test_count_tokens(claude, mock_llm):
    native = claude.messages.count_tokens(
        model=MODELS[0], system="Be brief.", messages=[{"role": "user", "content": "one two three"}]
    )
    assert native.input_tokens == 2 + 3 + 7  # counted by the (mock) provider
    assert mock_llm.last().path == "/v1/messages/count_tokens"
    estimated = claude.messages.count_tokens(
        model=MODELS[1], messages=[{"role": "user", "content": "x " * 40}]
    )
    assert estimated.input_tokens > 10


BETAS = ["prompt-caching-2024-07-31", "token-efficient-tools-2025-02-19"]


def test_anthropic_beta_header_reaches_anthropic_only(claude, mock_llm):
    """The SDK's `betas=` (the `anthropic-beta` header) goes on to Anthropic, merged with nothing else
    and cleaned of what is not a feature name; a translated provider never sees it."""
    request = {"max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
    native = claude.beta.messages.create(model=MODELS[0], betas=BETAS, **request)
    assert native.content[0].text
    assert mock_llm.last().headers["anthropic-beta"] == ",".join(BETAS)
    with claude.beta.messages.stream(model=MODELS[0], betas=BETAS[:1], **request) as stream:
        assert stream.get_final_message().stop_reason == "end_turn"
    assert mock_llm.last().headers["anthropic-beta"] == BETAS[0]
    claude.beta.messages.count_tokens(model=MODELS[0], betas=BETAS[1:], messages=request["messages"])
    assert mock_llm.last().path == "/v1/messages/count_tokens"
    assert BETAS[1] in mock_llm.last().headers["anthropic-beta"].split(",")  # beside the SDK's own
    smuggled = {"anthropic-beta": f"{BETAS[0]}, not a name;x=1, {BETAS[0]}"}
    claude.messages.create(model=MODELS[0], extra_headers=smuggled, **request)
    assert mock_llm.last().headers["anthropic-beta"] == BETAS[0]
    claude.messages.create(model=MODELS[0], **request)
    assert "anthropic-beta" not in mock_llm.last().headers
    translated = claude.beta.messages.create(model=MODELS[1], betas=BETAS, **request)
    assert translated.content[0].text
    assert mock_llm.last().path == "/v1/chat/completions"
    assert "anthropic-beta" not in mock_llm.last().headers


def test_errors_in_anthropic_shape_and_both_auth_headers(providers, claude, gateway_proc):
    url = gateway_proc.url(f"/api/{providers.uuid}/v1/messages")
    body = {"model": MODELS[0], "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
    bearer = httpx.post(url, headers={"Authorization": f"Bearer {providers.token}"}, json=body)
    assert bearer.status_code == 200 and bearer.json()["type"] == "message"
    with pytest.raises(anthropic.AuthenticationError) as caught:
        anthropic.Anthropic(
            base_url=gateway_proc.url(f"/api/{providers.uuid}"), api_key="pg_test_" + "x" * 38, max_retries=0
        ).messages.create(**body)
    assert (
        caught.value.body["type"] == "error" and caught.value.body["error"]["type"] == "authentication_error"
    )
    with pytest.raises(anthropic.NotFoundError) as caught:
        claude.messages.create(**{**body, "model": "no-such-model"})
    assert caught.value.body["error"]["type"] == "not_found_error"
    assert caught.value.body["error"]["code"] == "model_not_found"
    missing = httpx.post(url, headers={"x-api-key": providers.token}, json={**body, "max_tokens": None})
    assert missing.status_code == 400
    assert missing.json() == {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": missing.json()["error"]["message"],
            "code": "invalid_request",
        },
    }
    with pytest.raises(anthropic.BadRequestError):
        claude.messages.create(
            **{**body, "model": MODELS[1], "tools": [{"type": "web_search_20250305", "name": "web_search"}]}
        )
    with pytest.raises(anthropic.InternalServerError):  # the provider's 500 with nowhere to fail over
        claude.messages.create(**{**body, "model": f"{MODELS[0]}+fail-500"})


@pytest.mark.parametrize("model", [MODELS[0], MODELS[1]])
def test_stream_error_mid_stream_reaches_the_sdk(claude, model):
    # Slowed, so the error comes after the first bytes reached the client (before, it is a clean 502).
    with pytest.raises(anthropic.APIStatusError) as caught:
        with claude.messages.stream(
            model=f"{model}+slow-stream-20+stream-error",
            max_tokens=64,
            messages=[{"role": "user", "content": "hello there"}],
        ) as stream:
            for _ in stream:
                pass
    assert caught.value.body["error"]["type"] == "api_error"
