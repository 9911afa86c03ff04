"""The OpenAI surface over translated providers (Anthropic, Gemini) with the shared mock LLM and the SDK."""

from __future__ import annotations

import json

import pytest

from tests.helpers import log_rows

pytestmark = pytest.mark.django_db(transaction=True)
HI = [{"role": "user", "content": "hello there"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


@pytest.mark.parametrize(
    "provider,model", [("anthropic", "claude-3-5-haiku"), ("gemini", "gemini-2.0-flash")]
)
def test_chat_both_modes_and_tools(providers, gateway_proc, provider, model):
    client = providers.sdk(gateway_proc)
    raw = client.chat.completions.with_raw_response.create(model=f"{provider}:{model}", messages=HI)
    answer = raw.parse()
    assert raw.headers["x-promptgate-provider"] == provider
    assert "You said: hello there" in answer.choices[0].message.content
    assert answer.usage.prompt_tokens > 0 and answer.usage.completion_tokens > 0

    chunks = list(
        client.chat.completions.create(
            model=f"{provider}:{model}", messages=HI, stream=True, stream_options={"include_usage": True}
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "You said: hello there" in text
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0

    call = (
        client.chat.completions.create(model=f"{provider}:{model}+tool-call", messages=HI, tools=TOOLS)
        .choices[0]
        .message.tool_calls[0]
    )
    assert call.function.name == "get_weather" and set(json.loads(call.function.arguments)) == {"city"}
    rows = log_rows(providers.project, 3)
    assert {r.provider for r in rows} == {provider} and all(r.tokens_out for r in rows)


def test_failover_across_providers(providers, gateway_proc, mock_llm):
    providers.alias("sturdy", "openai:gpt-4o-mini+fail-503,anthropic:claude-3-5-haiku")
    raw = providers.sdk(gateway_proc).chat.completions.with_raw_response.create(model="sturdy", messages=HI)
    assert raw.headers["x-promptgate-provider"] == "anthropic"
    assert [(r.path, r.headers.get("x-api-key") is not None) for r in mock_llm.requests[-2:]] == [
        ("/v1/chat/completions", False),
        ("/v1/messages", True),
    ]
