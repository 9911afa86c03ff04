"""The SDK's own client through real gateway processes: modern (2026-07-28) and legacy (session) modes."""

from __future__ import annotations

import pytest

from tests.gateways.mcp.conftest import sdk_client

pytestmark = pytest.mark.django_db(transaction=True)


async def test_modern_client_lists_and_calls(gateways, mcp_project):
    url = gateways[0].url(mcp_project.path())
    async with sdk_client(url, mcp_project.token, mode="auto") as client:
        assert client.protocol_version == "2026-07-28"
        tools = await client.list_tools()
        names = [t.name for t in tools.tools]
        assert "alpha__add" in names
        result = await client.call_tool("alpha__add", {"a": 2, "b": 3})
        assert result.content[0].text == "5"


async def test_legacy_client_lists_and_calls(gateways, mcp_project):
    url = gateways[0].url(mcp_project.path())
    async with sdk_client(url, mcp_project.token, mode="legacy") as client:
        assert client.protocol_version == "2025-11-25"
        tools = await client.list_tools()
        names = [t.name for t in tools.tools]
        assert "alpha__add" in names
        result = await client.call_tool("beta__echo", {"text": "hi"})
        assert result.content[0].text == "beta:hi"
