"""The OpenAI Agents SDK's default model path (the Responses API) through the gateway, on two providers."""

from __future__ import annotations

import asyncio

import openai
import pytest
from agents import Agent, OpenAIResponsesModel, RunConfig, Runner, function_tool, set_tracing_disabled

pytestmark = pytest.mark.django_db(transaction=True)


@function_tool
def get_weather(city: str) -> str:
    """Weather of a city."""
    return f"18C in {city}"


@pytest.mark.parametrize("model", ["openai:gpt-4o-mini", "anthropic:claude-3-5-haiku"])
def test_agent_runs_plain_and_streamed(providers, gateway_proc, mock_llm, model):
    gateway_proc.sync_config()
    set_tracing_disabled(True)

    async def scenario() -> tuple[str, str]:
        client = openai.AsyncOpenAI(
            base_url=gateway_proc.url(f"/api/{providers.uuid}/v1"), api_key=providers.token, max_retries=0
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
    sent = mock_llm.last()
    assert sent.path == ("/v1/responses" if model.startswith("openai") else "/v1/messages")
