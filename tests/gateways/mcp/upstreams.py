"""Real upstream MCP servers for the gateway tests, built with the `mcp` SDK and served by uvicorn.

alpha: needs a bearer token, has `add` and `echo`, a resource and a prompt.
beta:  open, has its own `echo` (the collision) and `shout`.
gamma: low-level server whose tools/resources/prompts lists come in pages of two.
delta: long-running tools: `work` reports progress and logs, `slow` waits (and records a cancellation),
       `install` adds a tool and announces it with notifications/tools/list_changed.
Each records the method and headers of every request it got, so tests can prove what reached it.
"""

from __future__ import annotations

import asyncio
import contextlib
import warnings
from typing import Any

from mcp import types
from mcp.server import Server
from mcp.server.mcpserver import Context, MCPServer
from mcp.shared.exceptions import MCPDeprecationWarning

from tests.threaded import AsgiServer

ALPHA_TOKEN = "upstream-secret-alpha-123"


def build_alpha() -> Any:
    server = MCPServer("alpha")

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    @server.tool()
    def echo(text: str) -> str:
        """Echo from alpha."""
        return f"alpha:{text}"

    @server.resource("res://alpha/readme")
    def readme() -> str:
        return "alpha readme"

    @server.prompt()
    def greet(name: str) -> str:
        """Greet someone."""
        return f"Hello {name} from alpha"

    return server.streamable_http_app()


def build_beta() -> Any:
    server = MCPServer("beta")

    @server.tool()
    def echo(text: str) -> str:
        """Echo from beta."""
        return f"beta:{text}"

    @server.tool()
    def shout(text: str) -> str:
        """Upper-case."""
        return text.upper()

    return server.streamable_http_app()


class DeltaRecord:
    """What delta's tools saw, for assertions (the upstream runs in the test process)."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.cancelled: list[str] = []
        self.finished: list[str] = []
        self.meta: list[dict[str, Any]] = []


def build_delta(record: DeltaRecord) -> Any:
    server = MCPServer("delta")

    @server.tool()
    async def work(steps: int, ctx: Context) -> str:
        """Report progress and log each step."""
        for step in range(1, steps + 1):
            await ctx.report_progress(step, steps, f"step {step}")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", MCPDeprecationWarning)
                await ctx.log("info", f"did step {step}")
        return f"worked {steps}"

    @server.tool()
    async def slow(seconds: float, label: str = "") -> str:
        """Wait, then answer."""
        record.started.append(label)
        try:
            await asyncio.sleep(seconds)
        except BaseException:
            record.cancelled.append(label)
            raise
        record.finished.append(label)
        return f"slept {seconds}"

    @server.tool()
    async def install(name: str, ctx: Context) -> str:
        """Add a tool called `name` and announce the new catalogue."""

        def added() -> str:
            return f"{name} is here"

        server.add_tool(added, name=name, description="installed at run time")
        # On this request's stream, where the gateway reads it on its way to the result.
        await ctx.session.send_notification(
            types.ToolListChangedNotification(), related_request_id=ctx.request_id
        )
        return f"installed {name}"

    return server.streamable_http_app()


GAMMA_TOOLS = [f"t{i}" for i in range(5)]
GAMMA_PROMPTS = [f"p{i}" for i in range(3)]
GAMMA_RESOURCES = [f"res://gamma/{i}" for i in range(3)]


def _paged(names: list[str], cursor: str | None) -> tuple[list[str], str | None]:
    start = int(cursor or 0)
    end = start + 2
    return names[start:end], (str(end) if end < len(names) else None)


def build_gamma() -> Any:
    async def list_tools(ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        names, nxt = _paged(GAMMA_TOOLS, params.cursor if params else None)
        tools = [types.Tool(name=n, description=f"gamma {n}", input_schema={"type": "object"}) for n in names]
        return types.ListToolsResult(tools=tools, next_cursor=nxt)

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        if params.name == "t4":
            return types.CallToolResult(content=[types.TextContent(type="text", text="boom")], is_error=True)
        return types.CallToolResult(content=[types.TextContent(type="text", text=f"gamma ran {params.name}")])

    async def list_prompts(ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListPromptsResult:
        names, nxt = _paged(GAMMA_PROMPTS, params.cursor if params else None)
        return types.ListPromptsResult(prompts=[types.Prompt(name=n) for n in names], next_cursor=nxt)

    async def get_prompt(ctx: Any, params: types.GetPromptRequestParams) -> types.GetPromptResult:
        text = types.TextContent(type="text", text=f"prompt {params.name}")
        return types.GetPromptResult(messages=[types.PromptMessage(role="user", content=text)])

    async def list_resources(
        ctx: Any, params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        uris, nxt = _paged(GAMMA_RESOURCES, params.cursor if params else None)
        items = [types.Resource(uri=u, name=u.rsplit("/", 1)[-1]) for u in uris]
        return types.ListResourcesResult(resources=items, next_cursor=nxt)

    async def read_resource(ctx: Any, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
        contents = [types.TextResourceContents(uri=params.uri, text=f"content of {params.uri}")]
        return types.ReadResourceResult(contents=contents)

    server = Server(
        "gamma",
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_prompts=list_prompts,
        on_get_prompt=get_prompt,
        on_list_resources=list_resources,
        on_read_resource=read_resource,
    )
    return server.streamable_http_app()


class Recorder:
    """ASGI wrapper: records request headers; refuses requests without the expected bearer token."""

    def __init__(self, app: Any, token: str | None) -> None:
        self.app = app
        self.token = token
        self.headers: list[dict[str, str]] = []
        self.methods: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
            self.headers.append(headers)
            self.methods.append(scope["method"])
            if self.token is not None and headers.get("authorization") != f"Bearer {self.token}":
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [(b"content-type", b"text/plain")],
                    }
                )
                await send({"type": "http.response.body", "body": b"unauthorized"})
                return
        await self.app(scope, receive, send)


class Upstream(AsgiServer):
    """One SDK server on 127.0.0.1 (tests/threaded.py); `restart()` brings up a fresh app at the same
    address, every session gone."""

    thread_name = "mcp-upstream"
    path = "/mcp"

    def __init__(self, build: Any, token: str | None = None) -> None:
        super().__init__()
        self.build = build
        self.recorder = Recorder(build(), token)

    def asgi_app(self) -> Any:
        return self.recorder

    def restart(self) -> None:
        self.stop()
        self.recorder.app = self.build()
        self.start()


class Announcer:
    """A hand-written session-era MCP server that announces catalogue changes on its GET streams only.

    `tools` is its catalogue; `announce()` (from any thread) sends notifications/tools/list_changed to
    every open GET stream, as servers do when their tools change outside any request.
    """

    def __init__(self) -> None:
        self.tools: list[str] = ["first"]
        self.streams: list[asyncio.Queue[bytes]] = []
        self.loop: asyncio.AbstractEventLoop | None = None

    def announce(self) -> None:
        assert self.loop is not None
        frame = (
            b'event: message\r\ndata: {"jsonrpc":"2.0","method":"notifications/tools/list_changed"}\r\n\r\n'
        )
        for stream in list(self.streams):
            self.loop.call_soon_threadsafe(stream.put_nowait, frame)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        import json

        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                self.loop = asyncio.get_running_loop()
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        sse = [(b"content-type", b"text/event-stream")]
        if scope["method"] == "GET":
            stream: asyncio.Queue[bytes] = asyncio.Queue()
            self.streams.append(stream)

            async def gone_away() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass

            await send({"type": "http.response.start", "status": 200, "headers": sse})
            await send({"type": "http.response.body", "body": b": open\r\n\r\n", "more_body": True})
            try:
                while True:
                    getter = asyncio.ensure_future(stream.get())
                    gone = asyncio.ensure_future(gone_away())
                    done, _ = await asyncio.wait({getter, gone}, return_when=asyncio.FIRST_COMPLETED)
                    if gone in done:
                        getter.cancel()
                        return
                    gone.cancel()
                    await send({"type": "http.response.body", "body": getter.result(), "more_body": True})
            finally:
                self.streams.remove(stream)
                with contextlib.suppress(Exception):
                    await send({"type": "http.response.body", "body": b""})
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["method"] != "POST":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        request = json.loads(body)
        if "id" not in request:
            await send({"type": "http.response.start", "status": 202, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        method, headers = request["method"], [(b"content-type", b"application/json")]
        if method == "initialize":
            result: dict[str, Any] = {
                "protocolVersion": request["params"]["protocolVersion"],
                "capabilities": {"tools": {"listChanged": True}},
                "serverInfo": {"name": "announcer", "version": "1"},
            }
            headers.append((b"mcp-session-id", b"announcer-session"))
        elif method == "tools/list":
            result = {"tools": [{"name": n, "inputSchema": {"type": "object"}} for n in self.tools]}
        elif method == "tools/call":
            result = {"content": [{"type": "text", "text": f"ran {request['params']['name']}"}]}
        else:
            reply = {"jsonrpc": "2.0", "id": request["id"], "error": {"code": -32601, "message": "no"}}
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": json.dumps(reply).encode()})
            return
        reply = {"jsonrpc": "2.0", "id": request["id"], "result": result}
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": json.dumps(reply).encode()})
