"""Real gateway processes: sessions shared and serialised across processes, and the MCP bridge via the SDK."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.gateways.ai.endpoints.conftest import SUMMARY_SCHEMA, chats, make_ai_project, post
from tests.gateways.mcp.conftest import sdk_client

pytestmark = pytest.mark.django_db(transaction=True)


def test_session_continues_on_another_process(procs, ai):
    ai.endpoint(sessions_enabled=True)
    first = post(procs[0], ai, "summarise", {"variables": {"text": "first turn"}})
    assert first.status_code == 200, first.text
    session_id = first.json()["session_id"]
    second = post(procs[1], ai, "summarise", {"variables": {"text": "second turn"}, "session_id": session_id})
    assert second.status_code == 200, second.text
    sent = chats(ai.mock)[-1].body["messages"]
    assert [m["content"] for m in sent if m["role"] == "user"] == [
        "Summarise: first turn",
        "Summarise: second turn",
    ]


def test_concurrent_calls_across_processes_are_serialised(procs, ai):
    from gateways.ai.models import Session

    ai.endpoint(
        sessions_enabled=True, chain=[{"provider": "openai", "model": "gpt-4o-mini+slow-first-byte-300"}]
    )
    texts = ["a1", "b2", "c3", "d4"]

    def call(index: int) -> httpx.Response:
        body = {"variables": {"text": texts[index]}, "session_id": "across-processes"}
        return post(procs[index % 2], ai, "summarise", body)

    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(call, range(4)))
    assert [r.status_code for r in responses] == [200] * 4, [r.text for r in responses]
    messages = Session.objects.get(key="across-processes").messages
    assert [m["role"] for m in messages] == ["user", "assistant"] * 4
    assert sorted(m["content"] for m in messages if m["role"] == "user") == [f"Summarise: {t}" for t in texts]
    # Each call saw every earlier turn: the upstream requests grow by one turn each.
    sizes = sorted(len(r.body["messages"]) for r in chats(ai.mock))
    assert sizes == [2, 4, 6, 8]


def test_wrapper_v1_is_not_served_by_a_process(procs, transactional_db, make_project, make_token, mock_llm):
    wrapper = make_ai_project(make_project, make_token, mock_llm, "ai_wrapper")
    response = httpx.post(
        procs[0].url(f"/api/{wrapper.uuid}/v1/chat/completions"),
        json={"model": "openai:gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        headers=wrapper.auth,
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "route_not_in_project_type"


@pytest.mark.parametrize("project_type", ["ai_gateway", "ai_wrapper"])
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_mcp_bridge_with_the_sdk(
    procs, transactional_db, make_project, make_token, mock_llm, project_type, mode
):
    from tests.helpers import orm

    world = await orm(make_ai_project)(make_project, make_token, mock_llm, project_type)
    await orm(world.endpoint)(mcp_tool=True, description="Summarise a text")
    await orm(world.endpoint)("structured", mcp_tool=True, output_schema=SUMMARY_SCHEMA)
    await orm(world.endpoint)("hidden")
    url = procs[0].url(f"/api/{world.uuid}/mcp")
    async with sdk_client(url, world.token, mode=mode) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert set(tools) == {"summarise", "structured"}
        assert tools["summarise"].description == "Summarise a text"
        assert tools["summarise"].input_schema["required"] == ["text"]
        assert tools["summarise"].input_schema["properties"]["topic"] == {
            "type": "string",
            "default": "general",
        }
        assert tools["structured"].output_schema == SUMMARY_SCHEMA

        result = await client.call_tool("summarise", {"text": "via mcp"})
        assert not result.is_error
        assert result.content[0].text == "Hello from the mock. You said: Summarise: via mcp"

        result = await client.call_tool("structured", {"text": "x"})
        assert not result.is_error
        assert set(result.structured_content) == {"title", "score"}

        result = await client.call_tool("summarise", {"wrong": 1})
        assert result.is_error
        assert "variables.text" in result.content[0].text and "variables.wrong" in result.content[0].text
