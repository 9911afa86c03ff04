"""The MCP Streamable HTTP server, for both client eras, over any ToolSource.

2026-07-28 (chosen by a modern `MCP-Protocol-Version` header): stateless POSTs, each with its `_meta`
envelope and routing headers checked against the body, `server/discover`, no sessions, no batches.
2025-11-25 / 2025-06-18 / 2025-03-26: `initialize` opens a shared session (`Mcp-Session-Id`), DELETE
ends it, GET opens its listening stream (list_changed notifications, listen.py), unknown sessions answer
404, batches only under 2025-03-26. Both: Origin checked, JSON or SSE as the client accepts,
notifications 202, JSON-RPC errors with their codes, bounded message size.

Calls (tools/call, prompts/get, resources/read) run in a task of their own: an upstream's progress or
log notification turns the answer into an SSE stream that relays it before the result; a client's
`notifications/cancelled` (session era) or its disconnect (2026-07-28, where closing the request is the
cancellation) cancels the call and, through it, the upstream's work.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import orjson
from django.conf import settings

from gateways.common import cors
from gateways.common.http import ClientDisconnected, Request, Response, StreamingResponse
from gateways.common.router import GatewayRequest
from gateways.mcp import listen, policy, protocol, sessions
from gateways.mcp.protocol import INVALID_REQUEST, McpError
from gateways.mcp.source import LIST_METHODS, CallContext, ToolSource
from promptgate.errors import ErrorCode, PromptGateError

SourceFactory = Callable[[GatewayRequest], Awaitable[ToolSource]]
SESSION_HEADER = "mcp-session-id"
CALL_METHODS = frozenset({"tools/call", "prompts/get", "resources/read"})
REQUEST_CANCELLED = -32800
_background: set[asyncio.Task[None]] = set()


def origin_allowed(greq: GatewayRequest) -> bool:
    """No Origin (not a browser) is fine; a browser's must be this host's or a configured one."""
    origin = greq.request.headers.get("origin")
    if origin is None:
        return True
    normalised = origin.strip().rstrip("/").lower()
    if normalised in settings.PROMPTGATE_MCP_ALLOWED_ORIGINS or cors.origin_allowed(greq.project, origin):
        return True
    parts = urlsplit(normalised)
    host = greq.request.headers.get("host", "").lower()
    return parts.scheme in ("http", "https") and bool(parts.netloc) and parts.netloc == host


async def serve(greq: GatewayRequest, make_source: SourceFactory) -> Response:
    request = greq.request
    greq.log.setdefault("endpoint", "mcp")
    if not origin_allowed(greq):
        greq.log["error_code"] = ErrorCode.ORIGIN_NOT_ALLOWED
        return protocol.error_response(McpError(INVALID_REQUEST, "Origin not allowed"), status=403)
    if request.method == "DELETE":
        return await _delete(greq, make_source)
    if request.method == "GET":
        return await _listen(greq, make_source)
    if request.method != "POST":
        return Response(b"", 405, {"allow": "GET, POST, DELETE"})
    accept = request.headers.get("accept", "")
    if not protocol.accepts_any(accept):
        error = McpError(INVALID_REQUEST, "Accept must include application/json or text/event-stream")
        return protocol.error_response(error, status=406)
    limit = settings.PROMPTGATE_MCP_MAX_MESSAGE_BYTES
    try:
        body = await request.body(limit)
    except PromptGateError as exc:
        if exc.status != 413:
            raise
        greq.log["error_code"] = ErrorCode.PAYLOAD_TOO_LARGE
        error = McpError(INVALID_REQUEST, f"Message is larger than {limit} bytes")
        return protocol.error_response(error, status=413)
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        greq.log["error_code"] = ErrorCode.PARSE_ERROR
        return protocol.error_response(McpError(protocol.PARSE_ERROR, "Parse error"), status=400)
    sse = protocol.wants_sse(accept)
    version = request.headers.get("mcp-protocol-version")
    if version is not None and version not in protocol.HANDSHAKE_VERSIONS and version != "2024-11-05":
        return await _modern(greq, payload, sse, make_source)
    return await _legacy(greq, payload, sse, make_source)


# --- 2026-07-28 ------------------------------------------------------------------------------------
async def _modern(greq: GatewayRequest, payload: Any, sse: bool, make_source: SourceFactory) -> Response:
    headers = greq.request.headers
    if not isinstance(payload, dict) or protocol.is_response(payload):
        error = McpError(INVALID_REQUEST, "Body must be a single JSON-RPC request or notification object")
        return _fail(greq, error, None, modern=True)
    if "id" not in payload:
        try:
            protocol.check_notification(payload)
        except McpError as error:
            return _fail(greq, error, None, modern=True)
        if headers.get("mcp-protocol-version") not in protocol.MODERN_VERSIONS:
            return _fail(
                greq, protocol.unsupported_version(headers.get("mcp-protocol-version")), None, modern=True
            )
        await _notified(greq, payload, CallContext(greq, headers["mcp-protocol-version"]), make_source)
        return Response(b"", 202)
    request_id = payload.get("id") if protocol.valid_id(payload.get("id")) else None
    try:
        request_id, method, params = protocol.check_request(payload)
        raw_names = [name.decode("latin-1").lower() for name, _ in greq.request.scope["headers"]]
        version = protocol.check_modern_envelope(payload, headers, raw_names)
        if method == "initialize":
            raise McpError(
                INVALID_REQUEST, "initialize is not part of 2026-07-28: send it without that header"
            )
        source = await make_source(greq)
        ctx = CallContext(greq, version, request_id=request_id)
        if method in CALL_METHODS:
            return await _call(greq, source, ctx, method, params, sse=sse, modern=True)
        result = await _dispatch(source, ctx, method, params, modern=True)
        shaped = protocol.shape_result(method, version, result, source.server_info())
    except McpError as error:
        return _fail(greq, error, request_id, modern=True)
    return protocol.encode(protocol.result_message(request_id, shaped), sse=sse)


def _fail(greq: GatewayRequest, error: McpError, request_id: Any, *, modern: bool) -> Response:
    greq.log.setdefault("error_code", f"rpc_{error.code}")
    status = error.http_status or (protocol.MODERN_HTTP_STATUS.get(error.code, 200) if modern else 400)
    return protocol.error_response(error, request_id, status=status)


# --- session-based revisions -----------------------------------------------------------------------
async def _legacy(greq: GatewayRequest, payload: Any, sse: bool, make_source: SourceFactory) -> Response:
    session_id = greq.request.headers.get(SESSION_HEADER)
    if isinstance(payload, dict) and payload.get("method") == "initialize" and "id" in payload:
        return await _initialize(greq, payload, sse, make_source)
    batch = isinstance(payload, list)
    messages = payload if batch else [payload]
    if batch and not messages:
        return _fail(greq, McpError(INVALID_REQUEST, "Empty batch"), None, modern=False)
    if any(isinstance(m, dict) and m.get("method") == "initialize" for m in messages):
        return _fail(
            greq, McpError(INVALID_REQUEST, "initialize must not be part of a batch"), None, modern=False
        )
    if not session_id:
        error = McpError(INVALID_REQUEST, "Missing Mcp-Session-Id header: send initialize first")
        return _fail(greq, error, None, modern=False)
    session = await _own_session(greq, session_id)
    if session is None:
        return _session_not_found(greq)
    header_version = greq.request.headers.get("mcp-protocol-version")
    if header_version is not None and header_version != session.protocol_version:
        error = McpError(
            INVALID_REQUEST, f"MCP-Protocol-Version must be {session.protocol_version} in this session"
        )
        return _fail(greq, error, None, modern=False)
    if batch and session.protocol_version not in protocol.BATCH_VERSIONS:
        error = McpError(
            INVALID_REQUEST, f"Batches are not part of protocol revision {session.protocol_version}"
        )
        return _fail(greq, error, None, modern=False)
    ctx = CallContext(greq, session.protocol_version, session.id, dict(session.upstream))
    replies: list[dict[str, Any]] = []
    source: ToolSource | None = None
    if not batch and protocol.is_request(payload) and payload.get("method") in CALL_METHODS:
        try:
            call_id, method, params = protocol.check_request(payload)
            ctx.request_id = call_id
            source = await make_source(greq)
            response = await _call(greq, source, ctx, method, params, sse=sse, modern=False)
        except McpError as error:
            greq.log.setdefault("error_code", f"rpc_{error.code}")
            replies.append(protocol.error_message(payload.get("id"), error))
        else:
            if ctx.changed_sessions:
                await sessions.store().save_upstream(session.id, ctx.changed_sessions)
            response.headers[SESSION_HEADER] = session.id
            return response
    for message in messages if not replies else ():
        if protocol.is_notification(message):
            await _notified(greq, message, ctx, make_source)
            continue
        if protocol.is_response(message):
            continue  # we never ask clients anything, so no answer is awaited
        request_id = (
            message.get("id") if isinstance(message, dict) and protocol.valid_id(message.get("id")) else None
        )
        try:
            request_id, method, params = protocol.check_request(message)
            if source is None:
                source = await make_source(greq)
            ctx.request_id = request_id
            result = await _dispatch(source, ctx, method, params, modern=False)
            shaped = protocol.shape_result(method, session.protocol_version, result, source.server_info())
            replies.append(protocol.result_message(request_id, shaped))
        except McpError as error:
            greq.log.setdefault("error_code", f"rpc_{error.code}")
            replies.append(protocol.error_message(request_id, error))
    if ctx.changed_sessions:
        await sessions.store().save_upstream(session.id, ctx.changed_sessions)
    headers = {SESSION_HEADER: session.id}
    if not replies:
        return Response(b"", 202, headers)
    return protocol.encode(replies if batch else replies[0], sse=sse, headers=headers)


async def _initialize(
    greq: GatewayRequest, payload: dict[str, Any], sse: bool, make_source: SourceFactory
) -> Response:
    request_id = payload.get("id") if protocol.valid_id(payload.get("id")) else None
    try:
        request_id, _, params = protocol.check_request(payload)
        requested = params.get("protocolVersion")
        if not isinstance(requested, str):
            raise protocol.invalid_params("initialize needs params.protocolVersion")
        source = await make_source(greq)
    except McpError as error:
        return _fail(greq, error, request_id, modern=False)
    version = protocol.negotiate_handshake(requested)
    session = await sessions.store().create(greq.project.uuid, greq.token.id, version)
    result: dict[str, Any] = {
        "protocolVersion": version,
        "capabilities": source.capabilities(),
        "serverInfo": source.server_info(),
    }
    if source.instructions():
        result["instructions"] = source.instructions()
    greq.log["endpoint"] = "initialize"
    return protocol.encode(
        protocol.result_message(request_id, result), sse=sse, headers={SESSION_HEADER: session.id}
    )


async def _delete(greq: GatewayRequest, make_source: SourceFactory) -> Response:
    session_id = greq.request.headers.get(SESSION_HEADER)
    if not session_id:
        return protocol.error_response(McpError(INVALID_REQUEST, "Missing Mcp-Session-Id header"), status=400)
    session = await _own_session(greq, session_id)
    if session is None:
        return _session_not_found(greq)
    await sessions.store().delete(session_id)
    greq.log["endpoint"] = "session_end"
    if session.upstream:
        source = await make_source(greq)
        task = asyncio.get_running_loop().create_task(source.end_session(session.upstream))
        _background.add(task)  # upstream sessions end in the background; they expire anyway
        task.add_done_callback(_background.discard)
    return Response(b"", 200)


async def _own_session(greq: GatewayRequest, session_id: str) -> sessions.GatewaySession | None:
    """The session, if it exists and belongs to this project and the token that opened it."""
    session = await sessions.lookup(session_id)
    if session is None or session.project_uuid != greq.project.uuid or session.token_id != greq.token.id:
        return None
    return session


def _session_not_found(greq: GatewayRequest) -> Response:
    greq.log["error_code"] = ErrorCode.SESSION_NOT_FOUND
    return protocol.error_response(McpError(INVALID_REQUEST, "Session not found"), status=404)


async def _listen(greq: GatewayRequest, make_source: SourceFactory) -> Response:
    """GET: a session's listening stream, where list_changed notifications arrive (session era only)."""
    session_id = greq.request.headers.get(SESSION_HEADER)
    if not session_id:
        # A 2026-07-28 client has no stream to listen on; older clients open one only inside a session.
        return Response(b"", 405, {"allow": "POST, DELETE"})
    if not protocol.accepts_sse(greq.request.headers.get("accept", "")):
        error = McpError(INVALID_REQUEST, "Accept must include text/event-stream")
        return protocol.error_response(error, status=406)
    session = await _own_session(greq, session_id)
    if session is None:
        return _session_not_found(greq)
    greq.log["endpoint"] = "listen"
    return await listen.stream(greq, make_source, session.id)


async def _notified(greq: GatewayRequest, message: Any, ctx: CallContext, make_source: SourceFactory) -> None:
    """A client notification: only a cancellation needs acting on."""
    if not isinstance(message, dict) or message.get("method") != "notifications/cancelled":
        return
    params = message.get("params")
    if not isinstance(params, dict) or not protocol.valid_id(params.get("requestId")):
        return
    reason = params.get("reason")
    source = await make_source(greq)
    await source.cancel(ctx, params["requestId"], reason if isinstance(reason, str) else "cancelled")


class _Relay:
    """Notifications of one call as they arrive, and a wake-up for the one coroutine waiting on the call
    (a future per wait, no queue getter task: this sits on every call's path)."""

    __slots__ = ("_waiter", "messages")

    def __init__(self) -> None:
        self.messages: deque[dict[str, Any]] = deque()
        self._waiter: asyncio.Future[None] | None = None

    def push(self, message: dict[str, Any]) -> None:
        self.messages.append(message)
        self.wake()

    def wake(self, *_: Any) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self) -> None:
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None


async def _call(
    greq: GatewayRequest,
    source: ToolSource,
    ctx: CallContext,
    method: str,
    params: dict[str, Any],
    *,
    sse: bool,
    modern: bool,
) -> Response:
    """Run one call in its own task; answer JSON, or SSE once the upstream sends a notification first."""
    relay = _Relay()
    if protocol.accepts_sse(greq.request.headers.get("accept", "")):
        ctx.notify = relay.push
    loop = asyncio.get_running_loop()
    task = loop.create_task(_dispatch(source, ctx, method, params, modern=modern))
    task.add_done_callback(relay.wake)
    gone: asyncio.Task[None] | None = None
    if modern:  # 2026-07-28: closing the request is the client's cancellation, so watch for it
        gone = loop.create_task(_disconnected(greq.request))
        gone.add_done_callback(relay.wake)
    try:
        if not task.done() and not relay.messages:
            await relay.wait()
    except BaseException:
        task.cancel()
        if gone is not None:
            gone.cancel()
        raise
    if gone is not None:
        if gone.done() and not task.done():
            task.cancel("client disconnected")
            await asyncio.gather(task, return_exceptions=True)
            raise ClientDisconnected
        gone.cancel()
    if task.done() and not relay.messages:
        return _final(greq, source, ctx, method, task, sse=sse, modern=modern)
    return StreamingResponse(
        _relay_frames(greq, source, ctx, method, task, relay),
        headers={"cache-control": "no-cache, no-transform", "content-type": "text/event-stream"},
        on_close=lambda: _stop(task),
    )


async def _relay_frames(
    greq: GatewayRequest,
    source: ToolSource,
    ctx: CallContext,
    method: str,
    task: asyncio.Task[dict[str, Any]],
    relay: _Relay,
) -> Any:
    """SSE frames: the notifications as they come, then the call's answer."""
    while True:
        while relay.messages:
            yield protocol.sse_frame(relay.messages.popleft())
        if task.done():
            break
        await relay.wait()
    yield protocol.sse_frame(_answer_message(greq, source, ctx, method, task))


async def _stop(task: asyncio.Future[Any]) -> None:
    if not task.done():
        task.cancel("client disconnected")
        await asyncio.gather(task, return_exceptions=True)


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _answer_message(
    greq: GatewayRequest, source: ToolSource, ctx: CallContext, method: str, task: asyncio.Future[Any]
) -> dict[str, Any]:
    """The JSON-RPC answer of a finished call task: its shaped result, or its error."""
    if task.cancelled():
        greq.log.setdefault("error_code", "cancelled")
        return protocol.error_message(ctx.request_id, McpError(REQUEST_CANCELLED, "Request cancelled"))
    error = task.exception()
    if isinstance(error, McpError):
        greq.log.setdefault("error_code", f"rpc_{error.code}")
        return protocol.error_message(ctx.request_id, error)
    if error is not None:
        raise error
    shaped = protocol.shape_result(method, ctx.protocol_version, task.result(), source.server_info())
    return protocol.result_message(ctx.request_id, shaped)


def _final(
    greq: GatewayRequest,
    source: ToolSource,
    ctx: CallContext,
    method: str,
    task: asyncio.Future[Any],
    *,
    sse: bool,
    modern: bool,
) -> Response:
    error = None if task.cancelled() else task.exception()
    if isinstance(error, McpError):
        if modern:
            return _fail(greq, error, ctx.request_id, modern=True)
        raise error
    return protocol.encode(_answer_message(greq, source, ctx, method, task), sse=sse)


# --- methods ---------------------------------------------------------------------------------------
def _cursor(params: dict[str, Any]) -> str | None:
    cursor = params.get("cursor")
    if cursor is not None and not isinstance(cursor, str):
        raise protocol.invalid_params("cursor must be a string")
    return cursor


def _forwarded_meta(params: dict[str, Any], *, modern: bool) -> dict[str, Any]:
    """What of a call's `_meta` the upstream must see: the progress token and the log-level opt-in.

    A session-era client hears every log message its servers send (that era has no per-request
    opt-in), so it opts in at `debug` for a 2026-07-28 upstream; session upstreams ignore the key.
    """
    meta = params.get("_meta")
    meta = meta if isinstance(meta, dict) else {}
    forwarded = {key: meta[key] for key in protocol.FORWARDED_META if key in meta}
    if not modern:
        forwarded.setdefault(protocol.LOG_LEVEL_META, "debug")
    token = forwarded.get("progressToken")
    if token is not None and (isinstance(token, bool) or not isinstance(token, str | int)):
        del forwarded["progressToken"]
    return forwarded


def _string(params: dict[str, Any], key: str) -> str:
    value = params.get(key)
    if not isinstance(value, str) or not value:
        raise protocol.invalid_params(f"params.{key} must be a non-empty string")
    return value


async def _dispatch(
    source: ToolSource, ctx: CallContext, method: str, params: dict[str, Any], *, modern: bool
) -> dict[str, Any]:
    if method in LIST_METHODS:
        key = LIST_METHODS[method]
        page = await source.list(ctx, key, _cursor(params))
        items = policy.filter_tools(ctx.greq.token, page.items) if key == "tools" else page.items
        result: dict[str, Any] = {key: items}
        if page.next_cursor:
            result["nextCursor"] = page.next_cursor
        return result
    if method == "tools/call":
        arguments = params.get("arguments") or {}
        if not isinstance(arguments, dict):
            raise protocol.invalid_params("params.arguments must be an object")
        name = _string(params, "name")
        try:
            policy.check_call(ctx.greq.token, name)
        except McpError:
            ctx.greq.log.update(
                {
                    "endpoint": name[:200],
                    "error_code": ErrorCode.TOOL_NOT_ALLOWED,
                    "attempts": [{"outcome": "refused"}],
                }
            )
            raise
        ctx.meta = _forwarded_meta(params, modern=modern)
        return await source.call_tool(ctx, name, arguments)
    if method == "resources/read":
        return await source.read_resource(ctx, _string(params, "uri"))
    if method == "prompts/get":
        arguments = params.get("arguments") or {}
        if not isinstance(arguments, dict) or not all(isinstance(v, str) for v in arguments.values()):
            raise protocol.invalid_params("params.arguments must be an object of strings")
        ctx.meta = _forwarded_meta(params, modern=modern)
        return await source.get_prompt(ctx, _string(params, "name"), arguments)
    if method == "server/discover" and modern:
        result = {"supportedVersions": list(protocol.MODERN_VERSIONS), "capabilities": source.capabilities()}
        if source.instructions():
            result["instructions"] = source.instructions()
        return result
    if method == "ping" or (method == "logging/setLevel" and not modern):
        return {}
    raise McpError(protocol.METHOD_NOT_FOUND, "Method not found", method[:200])
