"""Guardrails on the MCP gateway through the `mcp` SDK: tools/call arguments and results, prompts/get
results; project rules and endpoint rules keyed by the server prefix; verdicts in the request log."""

from __future__ import annotations

import time

import pytest
from mcp.shared.exceptions import MCPError

from audit.models import RequestLog
from tests.gateways.guardrails.conftest import add_rule
from tests.gateways.mcp.conftest import sdk_client

pytestmark = pytest.mark.django_db(transaction=True)


def _rows(project, endpoint: str) -> list[RequestLog]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rows = list(RequestLog.objects.filter(project_uuid=project.uuid, endpoint=endpoint))
        if rows:
            return rows
        time.sleep(0.1)
    return []


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_arguments_and_results_are_guarded(gateways, mcp_project, mode):
    from asgiref.sync import sync_to_async

    project = mcp_project.project
    await sync_to_async(add_rule)(project, name="pii", kind="pii", action="redact", stage="input")
    await sync_to_async(add_rule)(
        project, name="no-secret-word", endpoint="beta", kind="keywords", action="block", stage="both",
        config={"words": ["classified"]},
    )  # fmt: skip
    for gateway in gateways:
        await sync_to_async(gateway.sync_config)()
    url = gateways[0].url(mcp_project.path())
    async with sdk_client(url, mcp_project.token, mode=mode) as client:
        # Project rule, input: the upstream sees the redacted argument (its echo proves it).
        echoed = await client.call_tool("alpha__echo", {"text": "mail jane@example.com"})
        assert echoed.content[0].text == "alpha:mail [EMAIL]"
        # Endpoint rule of beta only: blocked there, not on alpha.
        with pytest.raises(MCPError) as refused:
            await client.call_tool("beta__shout", {"text": "this is classified"})
        assert refused.value.error.data["code"] == "guardrail_blocked"
        assert "classified" not in refused.value.error.message
        assert (await client.call_tool("alpha__echo", {"text": "classified"})).content[
            0
        ].text == "alpha:classified"
    rows = await sync_to_async(_rows)(project, "beta__shout")
    assert rows[0].error_code == "guardrail_blocked" and rows[0].guardrails["blocked"] is True
    assert "classified" not in str(rows[0].guardrails)


async def test_prompt_results_are_guarded(gateways, mcp_project):
    from asgiref.sync import sync_to_async

    await sync_to_async(add_rule)(
        mcp_project.project, name="names", kind="keywords", action="redact", stage="output",
        config={"words": ["Ann"]},
    )  # fmt: skip
    for gateway in gateways:
        await sync_to_async(gateway.sync_config)()
    async with sdk_client(gateways[1].url(mcp_project.path()), mcp_project.token) as client:
        prompt = await client.get_prompt("alpha__greet", {"name": "Ann"})
    assert "Ann" not in prompt.messages[0].content.text
