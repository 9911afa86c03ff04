"""The Responses API with the official SDK: OpenAI natively, Anthropic and Gemini through translation."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import openai
import pytest
from django.conf import settings
from pydantic import BaseModel

from audit import context
from tests.helpers import log_rows

pytestmark = pytest.mark.django_db(transaction=True)
MODELS = ["openai:gpt-4o-mini", "anthropic:claude-3-5-haiku", "gemini:gemini-2.0-flash"]
TOOLS = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "Weather of a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
        "strict": True,
    }
]


class Weather(BaseModel):
    city: str
    celsius: int


@pytest.mark.parametrize("model", MODELS)
def test_create_json(providers, gateway_proc, mock_llm, model):
    client = providers.sdk(gateway_proc)
    raw = client.responses.with_raw_response.create(
        model=model, instructions="Be brief.", input="hello there", max_output_tokens=50
    )
    response = raw.parse()
    provider = model.split(":")[0]
    assert raw.headers["x-promptgate-provider"] == provider
    assert response.object == "response" and response.status == "completed"
    assert "You said: hello there" in response.output_text
    assert response.usage.input_tokens > 0 and response.usage.output_tokens > 0
    sent = mock_llm.last()
    if provider == "openai":  # natively, with the gateway keeping the state
        assert sent.path == "/v1/responses" and sent.body["store"] is False
        assert sent.body["instructions"] == "Be brief." and sent.body["max_output_tokens"] == 50
    elif provider == "anthropic":
        assert sent.path == "/v1/messages" and sent.body["system"] == "Be brief."
        assert sent.body["max_tokens"] == 50
    (row,) = log_rows(providers.project, 1)
    assert (row.endpoint, row.provider, row.status) == ("responses", provider, 200)
    assert row.tokens_in == response.usage.input_tokens and row.tokens_out == response.usage.output_tokens


@pytest.mark.parametrize("model", MODELS)
def test_stream_events(providers, gateway_proc, model):
    client = providers.sdk(gateway_proc)
    with client.responses.stream(model=model, input="hello there") as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert "response.output_text.delta" in kinds and kinds[-1] == "response.completed"
    assert kinds.index("response.output_item.added") < kinds.index("response.output_text.delta")
    assert "You said: hello there" in final.output_text and final.usage.output_tokens > 0
    assert client.responses.retrieve(final.id).output_text == final.output_text  # stored


@pytest.mark.parametrize("model", MODELS)
def test_parse_json_schema(providers, gateway_proc, model):
    parsed = providers.sdk(gateway_proc).responses.parse(model=model, input="Weather?", text_format=Weather)
    assert parsed.output_parsed == Weather(city="example", celsius=42)


@pytest.mark.parametrize(
    "first,second", [(MODELS[0], MODELS[1]), (MODELS[1], MODELS[2]), (MODELS[2], MODELS[0])]
)
def test_tool_round_trip_continues_on_another_provider(providers, gateway_proc, mock_llm, first, second):
    client = providers.sdk(gateway_proc)
    for streamed in (False, True):
        if streamed:
            with client.responses.stream(
                model=f"{first}+tool-call", input="Weather in Paris?", tools=TOOLS
            ) as s:
                for _ in s:
                    pass
                called = s.get_final_response()
        else:
            called = client.responses.create(
                model=f"{first}+tool-call", input="Weather in Paris?", tools=TOOLS
            )
        (call,) = [item for item in called.output if item.type == "function_call"]
        assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "example"}
        answer = client.responses.create(
            model=second,
            previous_response_id=called.id,
            input=[{"type": "function_call_output", "call_id": call.call_id, "output": "18C and sunny"}],
            tools=TOOLS,
        )
        assert answer.previous_response_id == called.id and answer.output_text
        sent = json.dumps(mock_llm.last().body)
        # The whole conversation reached the second provider in its own words: question, call, result.
        assert "Weather in Paris?" in sent and "18C and sunny" in sent and "get_weather" in sent
        assert call.call_id in sent or second.startswith("gemini")  # Gemini pairs calls by name


def test_retrieve_delete_input_items_and_store_off(providers, gateway_proc):
    client = providers.sdk(gateway_proc)
    kept = client.responses.create(model=MODELS[1], input="remember me")
    assert client.responses.retrieve(kept.id).id == kept.id
    items = client.responses.input_items.list(kept.id)
    assert [(item.type, item.role) for item in items.data] == [("message", "user")]
    raw = httpx.get(
        gateway_proc.url(f"/api/{providers.uuid}/v1/responses/{kept.id}/input_items"),
        headers={"Authorization": f"Bearer {providers.token}"},
    ).json()
    assert raw["object"] == "list" and raw["data"][0]["content"] == "remember me"
    if not settings.REDIS_URL:  # one process: kept in memory, then written by its batched writer
        from gateways.ai.models import StoredResponse

        rows = StoredResponse.objects.filter(project=providers.project, response_id=kept.id)
        assert _eventually(rows.exists)
    client.responses.delete(kept.id)
    if not settings.REDIS_URL:
        assert not rows.exists()
    for call in (lambda: client.responses.retrieve(kept.id), lambda: client.responses.delete(kept.id)):
        with pytest.raises(openai.NotFoundError) as caught:
            call()
        assert caught.value.response.json()["error"]["code"] == "response_not_found"
    unstored = client.responses.create(model=MODELS[0], input="forget me", store=False)
    assert unstored.store is False
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(unstored.id)
    with pytest.raises(openai.NotFoundError) as caught:
        client.responses.create(model=MODELS[0], input="x", previous_response_id=unstored.id)
    assert caught.value.response.json()["error"]["param"] == "previous_response_id"


def test_state_is_shared_by_every_process(providers, gateway_pair):
    first = providers.sdk(gateway_pair[0]).responses.create(model=MODELS[1], input="My name is Ada.")
    follow = providers.sdk(gateway_pair[-1]).responses.create(
        model=MODELS[2], previous_response_id=first.id, input="What is my name?"
    )
    assert follow.output_text and follow.previous_response_id == first.id


def test_failover_budgets_and_bad_input(providers, gateway_proc, mock_llm):
    from gateways.ai.models import PriceOverride, UsageLimit

    providers.alias("resilient", f"{MODELS[0]}+fail-503, {MODELS[1]}")
    client = providers.sdk(gateway_proc)
    raw = client.responses.with_raw_response.create(model="resilient", input="hi")
    assert raw.headers["x-promptgate-provider"] == "anthropic" and raw.parse().output_text
    with pytest.raises(openai.BadRequestError) as caught:  # built-in tools exist at OpenAI only
        client.responses.create(model=MODELS[1], input="hi", tools=[{"type": "web_search"}])
    assert caught.value.response.json()["error"]["param"] == "tools"
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model=MODELS[1], input=42)  # type: ignore[arg-type]
    with context.bind(actor=context.SYSTEM):
        PriceOverride.objects.create(
            provider="anthropic",
            model="claude-3-5-haiku",
            input_per_million=10_000,
            output_per_million=10_000,
        )
        UsageLimit.objects.create(project=providers.project, daily_budget=Decimal("0.01"))
    client = providers.sdk(gateway_proc)
    with pytest.raises(openai.RateLimitError) as caught:
        for _ in range(20):
            client.responses.create(model=MODELS[1], input="spend " * 20)
    assert caught.value.response.json()["error"]["code"] == "budget_exceeded"


def _eventually(predicate, timeout: float = 5.0) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.parametrize("model", [MODELS[0], MODELS[1]])
def test_stream_error_after_the_first_byte_ends_with_an_error_event(providers, gateway_proc, model):
    # Slowed, so the error comes after the first bytes reached the client (before, it is a clean 502).
    with httpx.stream(
        "POST",
        gateway_proc.url(f"/api/{providers.uuid}/v1/responses"),
        headers={"Authorization": f"Bearer {providers.token}"},
        json={"model": f"{model}+slow-stream-20+stream-error", "input": "hello there", "stream": True},
        timeout=20,
    ) as response:
        assert response.status_code == 200
        frames = [f for f in response.read().decode().split("\n\n") if f]
    assert frames[0].startswith("event: response.created")
    last = json.loads(frames[-1].split("data: ", 1)[1])
    assert last["type"] == "error" and last["code"] == "upstream_error"
    assert not any("response.completed" in frame for frame in frames)
