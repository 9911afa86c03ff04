"""MCP Streamable HTTP mock upstream: JSON-RPC initialize, tools/list and tools/call answered as JSON."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from typing import Any

from bench.mocks.common import Receive, Scope, Send, lifespan, read_body, send_bytes, send_json

PROTOCOL_VERSION = "2025-06-18"
# bench/mcp_fanout.py: a tools/list that takes this long, so a fan-out's concurrency shows.
LIST_DELAY = float(os.environ.get("BENCH_MCP_LIST_DELAY_MS", "0")) / 1000
TOOLS = [
    {
        "name": "echo",
        "description": "Echo the text back.",
        "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
    },
    {
        "name": "add",
        "description": "Add two numbers.",
        "inputSchema": {
            "type": "object",
            "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
            "required": ["a", "b"],
        },
    },
]


def _result(request_id: object, result: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def _error(request_id: object, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


def _call_tool(params: dict[str, Any]) -> dict[str, Any]:
    name = params.get("name")
    args = params.get("arguments") or {}
    if name == "echo":
        text = str(args.get("text", ""))
    elif name == "add":
        text = str(float(args.get("a", 0)) + float(args.get("b", 0)))
    else:
        return {"content": [{"type": "text", "text": f"unknown tool {name}"}], "isError": True}
    return {"content": [{"type": "text", "text": text}], "isError": False}


def handle(message: dict[str, Any]) -> dict[str, Any] | None:
    """One JSON-RPC message in, its response out (None for notifications)."""
    method = message.get("method")
    request_id = message.get("id")
    if request_id is None:
        return None  # notifications/initialized and the like need no answer
    params = message.get("params") or {}
    if method == "initialize":
        return _result(
            request_id,
            {
                "protocolVersion": params.get("protocolVersion", PROTOCOL_VERSION),
                "capabilities": {"tools": {"listChanged": False}},
                "serverInfo": {"name": "bench-mcp-mock", "version": "1.0.0"},
            },
        )
    if method == "ping":
        return _result(request_id, {})
    if method == "tools/list":
        return _result(request_id, {"tools": TOOLS})
    if method == "tools/call":
        return _result(request_id, _call_tool(params))
    return _error(request_id, -32601, f"Method not found: {method}")


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    method = scope["method"]
    if method == "DELETE":
        await send_bytes(send, 200, b"")
        return
    if method != "POST":
        # No server-initiated stream: the spec lets a server answer GET with 405.
        await send_bytes(send, 405, b"", [(b"allow", b"POST, DELETE")])
        return
    try:
        message = json.loads(await read_body(receive))
    except ValueError:
        await send_json(send, 400, _error(None, -32700, "Parse error"))
        return
    if isinstance(message, list):
        answers = [a for a in (handle(m) for m in message if isinstance(m, dict)) if a is not None]
        answer: object = answers or None
    elif isinstance(message, dict):
        if LIST_DELAY and message.get("method") == "tools/list":
            await asyncio.sleep(LIST_DELAY)
        answer = handle(message)
    else:
        await send_json(send, 400, _error(None, -32600, "Invalid Request"))
        return
    if answer is None:
        await send_bytes(send, 202, b"")
        return
    extra = []
    if isinstance(message, dict) and message.get("method") == "initialize":
        extra.append((b"mcp-session-id", uuid.uuid4().hex.encode()))
    await send_json(send, 200, answer, extra)
