"""The official `openai` SDK against a real gateway process and the mock LLM: every happy path and error class."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from pydantic import BaseModel

from audit import context
from tests.mock_llm_formats import Reply, vector

pytestmark = pytest.mark.django_db(transaction=True)


def test_chat_non_stream_passes_parameters_through(world, gateway_proc, mock_llm):
    client = world.sdk(gateway_proc)
    raw = client.chat.completions.with_raw_response.create(
        model="openai:gpt-4o-mini",
        messages=[{"role": "user", "content": "hi"}],
        n=2,
        stop=["END"],
        seed=7,
        user="end-user-1",
        temperature=0.2,
    )
    completion = raw.parse()
    assert raw.headers["x-promptgate-provider"] == "openai"
    assert completion.choices[0].message.content == "Hello from the mock. You said: hi"
    assert len(completion.choices) == 2
    assert completion.usage.prompt_tokens == 10 and completion.usage.completion_tokens == 20
    sent = mock_llm.requests[-1]
    assert sent.body["model"] == "gpt-4o-mini"
    for key, value in {"n": 2, "stop": ["END"], "seed": 7, "user": "end-user-1", "temperature": 0.2}.items():
        assert sent.body[key] == value
    # The provider credential goes upstream; the client's PromptGate token never does.
    assert sent.headers["authorization"] == f"Bearer {world.credential.api_key}"
    assert world.token not in json.dumps(sent.headers)


def test_chat_stream_with_and_without_usage(world, gateway_proc, mock_llm):
    client = world.sdk(gateway_proc)
    chunks = list(
        client.chat.completions.create(
            model="openai:gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip() == "Hello from the mock. You said: hi"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 20
    # Not asked: upstream is still asked for usage (for the cost), the client gets no usage chunk.
    chunks = list(
        client.chat.completions.create(
            model="openai:gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    )
    assert mock_llm.requests[-1].body["stream_options"] == {"include_usage": True}
    assert all(c.usage is None for c in chunks) and all(c.choices for c in chunks)


def test_raw_sse_framing(world, gateway_proc):
    with httpx.stream(
        "POST",
        gateway_proc.url(f"/api/{world.uuid}/v1/chat/completions"),
        headers={"Authorization": f"Bearer {world.token}"},
        json={"model": "openai:gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "stream": True},
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        body = response.read().decode()
    events = body.split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    assert all(e.startswith("data: ") for e in events[:-1])


@pytest.mark.parametrize("stream", [False, True])
def test_tools_and_tool_call_deltas(world, gateway_proc, stream):
    client = world.sdk(gateway_proc)
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    args = dict(
        model="openai:gpt-4o-mini+tool-call", messages=[{"role": "user", "content": "weather?"}], tools=tools
    )
    if not stream:
        call = client.chat.completions.create(**args).choices[0].message.tool_calls[0]
        assert (call.function.name, json.loads(call.function.arguments)) == (
            "get_weather",
            {"city": "example"},
        )
        return
    pieces, name = [], None
    for chunk in client.chat.completions.create(**args, stream=True):
        for delta in chunk.choices[0].delta.tool_calls or []:
            name = delta.function.name or name
            pieces.append(delta.function.arguments or "")
    assert name == "get_weather" and json.loads("".join(pieces)) == {"city": "example"}
    split = Reply(None, "get_weather", {"city": "example"}).arg_pieces()
    assert [p for p in pieces if p] == split and len(
        split
    ) > 1  # the deltas arrive as the provider split them


class Weather(BaseModel):
    city: str
    temp_c: float


def test_json_schema_parse_and_json_object(world, gateway_proc, mock_llm):
    client = world.sdk(gateway_proc)
    parsed = client.chat.completions.parse(
        model="openai:gpt-4o-mini", messages=[{"role": "user", "content": "weather"}], response_format=Weather
    )
    assert parsed.choices[0].message.parsed == Weather(city="example", temp_c=4.2)  # the mock's sample
    assert mock_llm.requests[-1].body["response_format"]["type"] == "json_schema"
    answer = client.chat.completions.create(
        model="openai:gpt-4o-mini",
        messages=[{"role": "user", "content": "json"}],
        response_format={"type": "json_object"},
    )
    assert json.loads(answer.choices[0].message.content) == {"ok": True}


def test_embeddings(world, gateway_proc, mock_llm):
    result = world.sdk(gateway_proc).embeddings.create(
        model="openai:text-embedding-3-small", input=["a", "b"]
    )
    # The SDK asks base64 by default: float32 on the wire, so float32 precision back.
    assert [e.embedding for e in result.data] == [pytest.approx(vector(t), rel=1e-6) for t in ("a", "b")]
    assert result.usage.prompt_tokens == 10
    assert mock_llm.requests[-1].path == "/v1/embeddings"


def test_models_lists_aliases_templates_and_assigned(world, gateway_proc):
    from credentials.models import ProviderTemplate

    world.alias("fast", "openai:gpt-4o-mini")
    world.alias("nowhere", "anthropic:claude-3-5-haiku")  # not assigned: not callable, not listed
    with context.bind(actor=context.SYSTEM):
        ProviderTemplate.objects.create(
            name="writer", provider="openai", model="gpt-4o", parameters={"temperature": 0}
        )
        ProviderTemplate.objects.create(name="off", provider="openai", model="gpt-4o", enabled=False)
    client = world.sdk(gateway_proc)
    ids = _eventually(lambda: {m.id for m in client.models.list()}, lambda ids: "writer" in ids)
    assert {"fast", "writer", "openai:gpt-4o-mini", "openai:gpt-4o"} <= ids
    assert not ids & {"nowhere", "off", "anthropic:claude-3-5-haiku"}
    assert client.models.retrieve("fast").id == "fast"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("off")


def test_alias_and_template_resolution(world, gateway_proc, mock_llm):
    from credentials.models import ProviderTemplate

    world.alias("fast", "openai:gpt-4o-mini")
    with context.bind(actor=context.SYSTEM):
        ProviderTemplate.objects.create(
            name="careful", provider="openai", model="gpt-4o", parameters={"temperature": 0, "seed": 1}
        )
    client = world.sdk(gateway_proc)
    _eventually(lambda: _ok(client, "careful"), bool)
    client.chat.completions.create(model="fast", messages=[{"role": "user", "content": "x"}])
    assert mock_llm.requests[-1].body["model"] == "gpt-4o-mini"
    client.chat.completions.create(model="careful", messages=[{"role": "user", "content": "x"}], seed=5)
    sent = mock_llm.requests[-1].body
    assert (sent["model"], sent["temperature"], sent["seed"]) == ("gpt-4o", 0, 5)  # the client wins


def _ok(client: openai.OpenAI, model: str) -> bool:
    try:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])
    except openai.NotFoundError:
        return False
    return True


def _eventually(fn, ready, timeout: float = 3.0):
    """Config changes reach a gateway process within one poll (0.1 s in tests)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if ready(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.1)
