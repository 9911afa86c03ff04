"""The gateway as an MCP client of one upstream: JSON-RPC over Streamable HTTP on the shared client.

Both eras upstream too: a 2026-07-28 server gets self-contained POSTs; an older one gets the initialize
handshake and its Mcp-Session-Id on every later request. An expired upstream session (404) is
re-initialized and the request sent once more. Only the server's own bearer token goes upstream.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

import orjson

from gateways.common import process_state, ssrf
from gateways.common.transport import http_client
from gateways.mcp import protocol
from promptgate.errors import ErrorCode

MAX_RESPONSE_BYTES = 8 * 1024 * 1024
ERA_CACHE_SECONDS = 300.0
CLIENT_INFO = {"name": "PromptGate MCP gateway", "version": "1"}
# Upstream request ids: unique across processes, since processes share upstream sessions.
_PROCESS_TAG = secrets.token_hex(4)
_ids = itertools.count(1)
# Notifications an upstream sends on a request's stream that reach the calling client.
RELAYED_NOTIFICATIONS = frozenset({"notifications/progress", "notifications/message"})
LIST_CHANGED = {
    "notifications/tools/list_changed": "tools",
    "notifications/prompts/list_changed": "prompts",
    "notifications/resources/list_changed": "resources",
}
OnEvent = Callable[[dict[str, Any]], None]
# Called with (server, kind) when an upstream announces a catalogue change (set by the catalogue module).
list_changed_hook: Callable[[ServerConfig, str], None] | None = None


def new_id() -> str:
    return f"pg{_PROCESS_TAG}-{next(_ids)}"


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """An McpServer as the data plane sees it (snapshot from the config cache; token decrypted)."""

    id: int
    prefix: str
    upstream_url: str
    bearer_token: str
    enabled: bool
    timeout_seconds: float  # connect, handshake and lists
    tool_timeout_seconds: float  # one tools/call, start to result
    protocol: str  # "auto" | "2026-07-28" | "legacy"
    tool_allow: frozenset[str]
    tool_deny: frozenset[str]
    rate_limit_per_minute: int | None

    def __repr__(self) -> str:  # never the token
        return f"ServerConfig(id={self.id}, prefix={self.prefix!r})"


class McpUpstreamError(Exception):
    """The upstream could not be used (down, timed out, refused us, spoke garbage); message is safe."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class SessionExpired(McpUpstreamError):
    def __init__(self) -> None:
        super().__init__(ErrorCode.UPSTREAM_SESSION_EXPIRED, "upstream session expired")


class UpstreamRpcError(Exception):
    """The upstream answered with a JSON-RPC error: passed on to the client as it is."""

    def __init__(self, error: dict[str, Any]) -> None:
        code = error.get("code")
        self.code = code if isinstance(code, int) and not isinstance(code, bool) else protocol.INTERNAL_ERROR
        message = error.get("message")
        self.message = message[:1000] if isinstance(message, str) else "upstream error"
        self.data = error.get("data")
        super().__init__(self.message)


class SessionSlot(Protocol):
    """Where the upstream session id of one server lives for the current caller."""

    def get(self, server_id: int) -> str | None: ...

    def set(self, server_id: int, session_id: str | None) -> None: ...


class ProcessSessions:
    """Upstream sessions for stateless callers: a transport detail kept per process (no client state)."""

    def __init__(self) -> None:
        self._ids: dict[int, str] = {}

    def get(self, server_id: int) -> str | None:
        return self._ids.get(server_id)

    def set(self, server_id: int, session_id: str | None) -> None:
        if session_id is None:
            self._ids.pop(server_id, None)
        else:
            self._ids[server_id] = session_id

    def clear(self) -> None:
        self._ids.clear()


shared_sessions = process_state.keep("mcp.upstream_sessions", ProcessSessions())
# server id → (upstream url, era, negotiated version, expires at): what the upstream speaks.
_eras: dict[int, tuple[str, str, str, float]] = process_state.keep("mcp.upstream_eras", {})


def forget(server: ServerConfig) -> None:
    _eras.pop(server.id, None)
    shared_sessions.set(server.id, None)


def _timeout(server: ServerConfig) -> http_client.Timeout:
    return _timeout_of(server.timeout_seconds, server.timeout_seconds)


def tool_timeout(server: ServerConfig) -> http_client.Timeout:
    """Waits of a tools/call: the tool may be silent for its whole timeout (the caller's deadline, a few
    seconds shorter, decides), while connecting keeps the server's own timeout."""
    return _timeout_of(server.tool_timeout_seconds + 5, server.timeout_seconds)


@lru_cache(maxsize=64)
def _timeout_of(read: float, connect: float) -> http_client.Timeout:
    return http_client.Timeout(read, connect=min(10.0, connect), pool=10.0)


def _headers(server: ServerConfig, extra: dict[str, str]) -> dict[str, str]:
    headers = {"accept": "application/json, text/event-stream", "content-type": "application/json", **extra}
    if server.bearer_token:
        headers["authorization"] = f"Bearer {server.bearer_token}"
    return headers


async def _post(
    server: ServerConfig,
    message: dict[str, Any],
    headers: dict[str, str],
    *,
    timeout: http_client.Timeout | None = None,
    on_event: OnEvent | None = None,
) -> tuple[http_client.UpstreamResponse, dict[str, Any] | None]:
    """POST one message; (response, the JSON-RPC reply to it, or None for 202 / no reply).

    Notifications the upstream streams before its reply go to `on_event` (progress, log messages) or
    to the catalogue (list_changed). Every failure is an McpUpstreamError whose message names no address.
    """
    try:
        response = await http_client.send(
            "POST",
            server.upstream_url,
            content=orjson.dumps(message),
            headers=_headers(server, headers),
            timeout=timeout or _timeout(server),
        )
    except http_client.UpstreamError as exc:
        raise McpUpstreamError(exc.code, str(exc)) from None
    except ssrf.SsrfBlocked as exc:  # refused at connect time: this server's failure, never the caller's
        raise McpUpstreamError(ErrorCode.SSRF_BLOCKED, exc.public_message) from None
    try:
        reply = await _read_reply(server, response, message.get("id"), on_event)
    except http_client.UpstreamError as exc:
        raise McpUpstreamError(exc.code, str(exc)) from None
    finally:
        await response.aclose()
    return response, reply


async def _read_reply(
    server: ServerConfig, response: http_client.UpstreamResponse, request_id: Any, on_event: OnEvent | None
) -> dict[str, Any] | None:
    content_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if response.status == 202 or request_id is None:
        return None
    if content_type == "text/event-stream":
        return await _reply_from_sse(server, response, request_id, on_event)
    try:
        body = await response.read(MAX_RESPONSE_BYTES)
    except http_client.BodyTooLarge:
        raise McpUpstreamError(ErrorCode.UPSTREAM_ERROR, "upstream response is too large") from None
    if content_type != "application/json":
        return None
    try:
        reply = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise McpUpstreamError(ErrorCode.UPSTREAM_ERROR, "upstream sent invalid JSON") from None
    return reply if isinstance(reply, dict) else None


async def _reply_from_sse(
    server: ServerConfig, response: http_client.UpstreamResponse, request_id: Any, on_event: OnEvent | None
) -> dict[str, Any] | None:
    """Read SSE events until the response to `request_id`; notifications before it are handed on."""
    async for message in sse_messages(response):
        if message.get("id") == request_id and "method" not in message:
            return message
        notice(server, message, on_event)
    return None


async def sse_messages(response: http_client.UpstreamResponse, *, whole_limit: bool = True) -> Any:
    """The JSON-RPC messages of an SSE body, as they arrive: bounded in total size (a reply), or only
    per event (a long-lived listening stream)."""
    buffer, seen = b"", 0
    async for chunk in response.aiter_raw():
        seen = seen + len(chunk) if whole_limit else len(buffer) + len(chunk)
        if seen > MAX_RESPONSE_BYTES:
            raise McpUpstreamError(ErrorCode.UPSTREAM_ERROR, "upstream response is too large")
        buffer += chunk.replace(b"\r\n", b"\n")
        while b"\n\n" in buffer:
            event, buffer = buffer.split(b"\n\n", 1)
            data = b"\n".join(
                line[5:].lstrip(b" ") for line in event.split(b"\n") if line.startswith(b"data:")
            )
            if not data:
                continue
            try:
                message = orjson.loads(data)
            except orjson.JSONDecodeError:
                raise McpUpstreamError(ErrorCode.UPSTREAM_ERROR, "upstream sent invalid JSON") from None
            if isinstance(message, dict):
                yield message


def notice(server: ServerConfig, message: dict[str, Any], on_event: OnEvent | None) -> None:
    """An upstream notification: relayed to the caller, or a catalogue change; anything else dropped."""
    method = message.get("method")
    if "id" in message or not isinstance(method, str):
        return  # a request to us (sampling, elicitation): the gateway offers no back channel
    if method in RELAYED_NOTIFICATIONS and on_event is not None:
        on_event(message)
    elif method in LIST_CHANGED and list_changed_hook is not None:
        list_changed_hook(server, LIST_CHANGED[method])


def _check(
    response: http_client.UpstreamResponse, reply: dict[str, Any] | None, *, session_id: str | None
) -> dict[str, Any]:
    """The result of a reply, or the matching exception."""
    if reply is not None and isinstance(reply.get("error"), dict):
        if response.status == 404 and session_id is not None:
            raise SessionExpired
        raise UpstreamRpcError(reply["error"])
    if response.status == 404 and session_id is not None:
        raise SessionExpired
    if response.status in (401, 403):
        raise McpUpstreamError(
            "upstream_auth_failed", f"upstream refused the gateway's credentials ({response.status})"
        )
    if response.status >= 400:
        raise McpUpstreamError(ErrorCode.UPSTREAM_ERROR, f"upstream answered HTTP {response.status}")
    if reply is None or not isinstance(reply.get("result"), dict):
        raise McpUpstreamError(ErrorCode.UPSTREAM_ERROR, "upstream sent no JSON-RPC result")
    return reply["result"]


def _modern_message(method: str, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    meta = {
        **(params.get("_meta") or {}),
        protocol.PROTOCOL_VERSION_META: protocol.MODERN_VERSIONS[0],
        protocol.CLIENT_INFO_META: CLIENT_INFO,
        protocol.CLIENT_CAPABILITIES_META: {},
    }
    message = {"jsonrpc": "2.0", "id": new_id(), "method": method, "params": {**params, "_meta": meta}}
    headers = {"mcp-protocol-version": protocol.MODERN_VERSIONS[0], "mcp-method": method}
    name_key = protocol.NAME_BEARING.get(method)
    if name_key is not None and isinstance(params.get(name_key), str):
        headers["mcp-name"] = _header_value(params[name_key])
    return message, headers


def _header_value(value: str) -> str:
    if (
        value.isascii()
        and value.isprintable()
        and value == value.strip()
        and not value.startswith("=?base64?")
    ):
        return value
    return f"=?base64?{base64.b64encode(value.encode()).decode('ascii')}?="


async def _era(server: ServerConfig) -> tuple[str, str]:
    """("modern" | "legacy", version): configured, or probed with server/discover and remembered."""
    if server.protocol == "legacy":
        return "legacy", protocol.LATEST_HANDSHAKE
    if server.protocol in protocol.MODERN_VERSIONS:
        return "modern", server.protocol
    known = _eras.get(server.id)
    if known is not None and known[0] == server.upstream_url and known[3] > time.monotonic():
        return known[1], known[2]
    message, headers = _modern_message("server/discover", {})
    response, reply = await _post(server, message, headers)
    era, version = "legacy", protocol.LATEST_HANDSHAKE
    result = reply.get("result") if reply else None
    if response.status == 200 and isinstance(result, dict):
        versions = result.get("supportedVersions")
        mutual = [v for v in protocol.MODERN_VERSIONS if isinstance(versions, list) and v in versions]
        if mutual:
            era, version = "modern", mutual[-1]
    elif response.status in (401, 403):
        raise McpUpstreamError(
            "upstream_auth_failed", f"upstream refused the gateway's credentials ({response.status})"
        )
    _eras[server.id] = (server.upstream_url, era, version, time.monotonic() + ERA_CACHE_SECONDS)
    return era, version


async def initialize(server: ServerConfig) -> tuple[str | None, str]:
    """The handshake: (upstream session id or None for a sessionless server, negotiated version)."""
    message = {
        "jsonrpc": "2.0",
        "id": new_id(),
        "method": "initialize",
        "params": {
            "protocolVersion": protocol.LATEST_HANDSHAKE,
            "capabilities": {},
            "clientInfo": CLIENT_INFO,
        },
    }
    response, reply = await _post(server, message, {})
    result = _check(response, reply, session_id=None)
    version = result.get("protocolVersion")
    if version not in protocol.HANDSHAKE_VERSIONS:
        raise McpUpstreamError(
            ErrorCode.UPSTREAM_ERROR, "upstream negotiated an unsupported protocol version"
        )
    session_id = response.headers.get("mcp-session-id")
    headers = {"mcp-protocol-version": version, **({"mcp-session-id": session_id} if session_id else {})}
    await _post(server, {"jsonrpc": "2.0", "method": "notifications/initialized"}, headers)
    return session_id, version


# An upstream session id stored as "<version> <id>" (a sessionless legacy server: "<version> ").
def _pack(version: str, session_id: str | None) -> str:
    return f"{version} {session_id or ''}"


def _unpack(packed: str | None) -> tuple[str, str | None] | None:
    if not packed or " " not in packed:
        return None
    version, session_id = packed.split(" ", 1)
    return version, session_id or None


@dataclass(slots=True)
class Sent:
    """Where a request went, so a cancellation can follow it: its upstream id and session headers."""

    message_id: str = ""
    headers: dict[str, str] | None = None


async def request(
    server: ServerConfig,
    method: str,
    params: dict[str, Any],
    slot: SessionSlot,
    *,
    timeout: http_client.Timeout | None = None,
    on_event: OnEvent | None = None,
    sent: Sent | None = None,
) -> dict[str, Any]:
    """Send one request upstream in the era it speaks; the result dict, or McpUpstreamError/UpstreamRpcError."""
    era, version = await _era(server)
    if era == "modern":
        message, headers = _modern_message(method, params)
        if sent is not None:
            sent.message_id, sent.headers = message["id"], headers
        response, reply = await _post(server, message, headers, timeout=timeout, on_event=on_event)
        return _check(response, reply, session_id=None)
    for attempt in range(2):
        state = _unpack(slot.get(server.id))
        if state is None:
            session_id, version = await initialize(server)
            slot.set(server.id, _pack(version, session_id))
        else:
            version, session_id = state
        message = {"jsonrpc": "2.0", "id": new_id(), "method": method, "params": params}
        headers = {"mcp-protocol-version": version, **({"mcp-session-id": session_id} if session_id else {})}
        if sent is not None:
            sent.message_id, sent.headers = message["id"], headers
        response, reply = await _post(server, message, headers, timeout=timeout, on_event=on_event)
        try:
            return _check(response, reply, session_id=session_id)
        except SessionExpired:
            slot.set(server.id, None)  # re-initialize, then send once more
            if attempt:
                raise
    raise AssertionError("unreachable")


async def end_session(server: ServerConfig, packed: str) -> None:
    """DELETE an upstream session (best effort: the upstream expires it anyway)."""
    state = _unpack(packed)
    if state is None:
        return
    version, session_id = state
    if session_id is None:
        return
    headers = _headers(server, {"mcp-protocol-version": version, "mcp-session-id": session_id})
    try:
        response = await asyncio.wait_for(
            http_client.send("DELETE", server.upstream_url, headers=headers, timeout=_timeout(server)),
            server.timeout_seconds,
        )
        await response.aclose()
    except (http_client.UpstreamError, TimeoutError):
        return


async def list_tools_for_test(server: ServerConfig) -> list[dict[str, Any]]:
    """Every tool of the upstream (all pages): the "test connection" action."""
    tools: list[dict[str, Any]] = []
    slot = ProcessSessions()
    cursor: str | None = None
    for _ in range(100):
        result = await request(server, "tools/list", {"cursor": cursor} if cursor else {}, slot)
        tools.extend(t for t in result.get("tools") or [] if isinstance(t, dict))
        cursor = result.get("nextCursor") if isinstance(result.get("nextCursor"), str) else None
        if not cursor:
            break
    packed = slot.get(server.id)
    if packed:
        await end_session(server, packed)
    return tools


async def cancel(server: ServerConfig, sent: Sent, reason: str) -> None:
    """Tell the upstream a request it is working on was cancelled by the client (best effort)."""
    if not sent.message_id:
        return
    params: dict[str, Any] = {"requestId": sent.message_id, "reason": reason[:200]}
    headers = dict(sent.headers or {})
    if "mcp-method" in headers:  # 2026-07-28: routing headers and the envelope, like every message
        headers["mcp-method"] = "notifications/cancelled"
        headers.pop("mcp-name", None)
        params["_meta"] = {
            protocol.PROTOCOL_VERSION_META: headers.get("mcp-protocol-version", protocol.MODERN_VERSIONS[0])
        }
    message = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": params}
    try:
        await _post(server, message, headers)
    except McpUpstreamError:
        return


LISTEN_TIMEOUT = http_client.Timeout(300.0, connect=10.0, pool=10.0)


async def listen(server: ServerConfig) -> None:
    """Read a session-era upstream's GET stream, where it announces catalogue changes; returns when it
    ends. A 2026-07-28 upstream, or one without such a stream, has nothing to listen to: wait forever."""
    era, _ = await _era(server)
    if era == "modern":
        await asyncio.Event().wait()
    session_id, version = await initialize(server)
    headers = {"accept": "text/event-stream", "mcp-protocol-version": version}
    if session_id:
        headers["mcp-session-id"] = session_id
    if server.bearer_token:
        headers["authorization"] = f"Bearer {server.bearer_token}"
    try:
        response = await http_client.send("GET", server.upstream_url, headers=headers, timeout=LISTEN_TIMEOUT)
    except http_client.UpstreamError as exc:
        raise McpUpstreamError(exc.code, str(exc)) from None
    except ssrf.SsrfBlocked as exc:
        raise McpUpstreamError(ErrorCode.SSRF_BLOCKED, exc.public_message) from None
    try:
        content_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if response.status != 200 or content_type != "text/event-stream":
            await asyncio.Event().wait()  # no listening stream offered: nothing will come
        async for message in sse_messages(response, whole_limit=False):
            notice(server, message, None)
    except http_client.UpstreamError as exc:
        raise McpUpstreamError(exc.code, str(exc)) from None
    finally:
        await response.aclose()
        if session_id:
            await end_session(server, _pack(version, session_id))
