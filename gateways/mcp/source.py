"""The ToolSource contract: what the MCP protocol layer serves, whoever provides the tools.

The protocol layer (server.py) owns sessions, JSON-RPC, both client eras, framing and Origin checks;
a ToolSource owns only the catalogue and the calls. The MCP gateway's source aggregates upstream MCP
servers (aggregate.py); the MCP bridge of AI projects will be another source behind the same layer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateways.common.router import GatewayRequest

LIST_METHODS = {
    "tools/list": "tools",
    "resources/list": "resources",
    "resources/templates/list": "resourceTemplates",
    "prompts/list": "prompts",
}


@dataclass
class Page:
    """One page of a list: its items (wire dicts) and the source's own opaque cursor to the next."""

    items: list[dict[str, Any]]
    next_cursor: str | None = None


@dataclass
class CallContext:
    """Who asks, under which revision, in which gateway session (None: a stateless 2026 request)."""

    greq: GatewayRequest
    protocol_version: str
    session_id: str | None = None  # the gateway session's id (sources key their own state by it)
    upstream_sessions: dict[str, str] = field(default_factory=dict)  # source-owned, stored with the session
    changed_sessions: dict[str, str | None] = field(default_factory=dict)  # what to write back (None: drop)
    request_id: Any = None  # the client's JSON-RPC id of the request being served
    meta: dict[str, Any] = field(default_factory=dict)  # the client's `_meta` keys forwarded upstream
    notify: Callable[[dict[str, Any]], None] | None = None  # relays upstream notifications to the client

    def set_upstream_session(self, key: str, value: str | None) -> None:
        if value is None:
            self.upstream_sessions.pop(key, None)
        else:
            self.upstream_sessions[key] = value
        self.changed_sessions[key] = value


class ToolSource(Protocol):
    """Catalogue and calls behind one MCP endpoint. Errors are raised as protocol.McpError."""

    def server_info(self) -> dict[str, Any]:
        """`{"name", "version"}` of this MCP server as clients see it."""
        ...

    def capabilities(self) -> dict[str, Any]:
        """ServerCapabilities (tools / resources / prompts) this source offers."""
        ...

    def instructions(self) -> str | None: ...

    async def list(self, ctx: CallContext, kind: str, cursor: str | None) -> Page:
        """One page of `kind` ("tools", "resources", "resourceTemplates", "prompts")."""
        ...

    async def call_tool(self, ctx: CallContext, name: str, arguments: dict[str, Any]) -> dict[str, Any]: ...

    async def read_resource(self, ctx: CallContext, uri: str) -> dict[str, Any]: ...

    async def get_prompt(self, ctx: CallContext, name: str, arguments: dict[str, str]) -> dict[str, Any]: ...

    async def end_session(self, upstream_sessions: dict[str, str]) -> None:
        """A gateway session ended: release whatever the source held for it (best effort)."""
        ...

    async def cancel(self, ctx: CallContext, request_id: Any, reason: str) -> None:
        """The client cancelled its request `request_id` (best effort, any process)."""
        ...
