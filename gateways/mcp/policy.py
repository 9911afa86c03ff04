"""Per-token tool policy: the exposed tool names (or globs, `github__*`) a token may list and call.

Enforced once, in the protocol layer, for every ToolSource (the MCP gateway and the MCP bridge alike):
`tools/list` leaves out what the token may not use and `tools/call` refuses it by name.
"""

from __future__ import annotations

import fnmatch
import re
from functools import lru_cache

from gateways.common.config import TokenInfo
from gateways.mcp.protocol import McpError
from promptgate.errors import ErrorCode

TOOL_NOT_ALLOWED = (
    -32004
)  # implementation-defined server error: this token may not use the tool (-32003: guardrails)


@lru_cache(maxsize=1024)
def _matcher(patterns: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(fnmatch.translate(pattern) for pattern in patterns))


def permits(token: TokenInfo, name: str) -> bool:
    patterns = token.mcp_tools
    return not patterns or _matcher(patterns).match(name) is not None


def check_call(token: TokenInfo, name: str) -> None:
    if not permits(token, name):
        raise McpError(
            TOOL_NOT_ALLOWED,
            f"Tool {name[:200]} is not allowed for this token",
            {"code": ErrorCode.TOOL_NOT_ALLOWED, "tool": name[:200]},
        )


def filter_tools(token: TokenInfo, tools: list[dict[str, object]]) -> list[dict[str, object]]:
    if not token.mcp_tools:
        return tools
    return [tool for tool in tools if isinstance(name := tool.get("name"), str) and permits(token, name)]
