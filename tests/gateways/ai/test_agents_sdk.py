"""The OpenAI Agents SDK's default model path (the Responses API) through the gateway, on two providers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import openai
import pytest
from agents import Agent, OpenAIResponsesModel, RunConfig, Runner, function_tool, set_tracing_disabled

from audit import context
from tests.mock_llm import KEYS, MockLLM

pytestmark = pytest.mark.django_db(transaction=True)


@function_tool
def get_weather(city: str) -> str:
    """Weather of a city."""
    return f"18C in {city}"


@pytest.fixture(scope="module")
def shared_mock() -> Iterator[MockLLM]:
    with MockLLM() as mock:
        yield mock


@pytest.mark.parametrize("model", ["openai:gpt-4o-mini", "anthropic:claude-3-5-haiku"])
def test_agent_runs_plain_and_streamed(world, gateway_proc, shared_mock, model):
    for provider in ("openai", "anthropic"):
        credential = world.assign(provider, shared_mock.base_url(provider))
        credential.api_key = KEYS[provider]
        with context.bind(actor=context.SYSTEM):
            credential.save()
    gateway_proc.sync_config()
    set_tracing_disabled(True)

    async def scenario() -> tuple[str, str]:
        client = openai.AsyncOpenAI(
            base_url=gateway_proc.url(f"/api/{world.uuid}/v1"), api_key=world.token, max_retries=0
        )
        try:
            agent = Agent(
                name="helper",
                instructions="Be brief.",
                tools=[get_weather],
                model=OpenAIResponsesModel(model=model, openai_client=client),
            )
            plain = await Runner.run(agent, "hello there", run_config=RunConfig(tracing_disabled=True))
            streamed = Runner.run_streamed(agent, "hello again", run_config=RunConfig(tracing_disabled=True))
            async for _event in streamed.stream_events():
                pass
            return str(plain.final_output), str(streamed.final_output)
        finally:
            await client.close()

    plain, streamed = asyncio.run(scenario())
    assert "You said: hello there" in plain and "You said: hello again" in streamed
    sent = shared_mock.last()
    assert sent.path == ("/v1/responses" if model.startswith("openai") else "/v1/messages")
