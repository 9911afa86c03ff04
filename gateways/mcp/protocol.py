"""MCP wire vocabulary: revisions, JSON-RPC messages and errors, result shapes per revision, framing."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

import orjson

from gateways.common.http import Response

MODERN_VERSIONS = ("2026-07-28",)
HANDSHAKE_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26")  # newest first: the counter-offer
LATEST_HANDSHAKE = HANDSHAKE_VERSIONS[0]
BATCH_VERSIONS = frozenset({"2025-03-26"})  # JSON-RPC batches were removed in 2025-06-18

PROTOCOL_VERSION_META = "io.modelcontextprotocol/protocolVersion"
CLIENT_INFO_META = "io.modelcontextprotocol/clientInfo"
CLIENT_CAPABILITIES_META = "io.modelcontextprotocol/clientCapabilities"
SERVER_INFO_META = "io.modelcontextprotocol/serverInfo"
LOG_LEVEL_META = "io.modelcontextprotocol/logLevel"
# A client's `_meta` keys the gateway passes on to the upstream serving the request.
FORWARDED_META = ("progressToken", LOG_LEVEL_META)

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
UPSTREAM_ERROR = -32000  # implementation-defined server error: an upstream failed or is down
HEADER_MISMATCH = -32020
UNSUPPORTED_PROTOCOL_VERSION = -32022

# The 2026-07-28 transport answers these codes with an HTTP status (others: 200).
MODERN_HTTP_STATUS = {
    PARSE_ERROR: 400,
    INVALID_REQUEST: 400,
    INVALID_PARAMS: 400,
    HEADER_MISMATCH: 400,
    UNSUPPORTED_PROTOCOL_VERSION: 400,
    METHOD_NOT_FOUND: 404,
}
# Methods whose name is mirrored in the Mcp-Name header (2026-07-28).
NAME_BEARING = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}
# Results a 2026-07-28 client expects cache hints on.
CACHEABLE = frozenset(
    {
        "server/discover",
        "tools/list",
        "resources/list",
        "resources/templates/list",
        "resources/read",
        "prompts/list",
    }
)

RequestId = str | int


class McpError(Exception):
    """A JSON-RPC error to answer: code, a message safe to show, optional data."""

    def __init__(self, code: int, message: str, data: Any = None, *, http_status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data
        self.http_status = http_status

    def to_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def invalid_params(message: str) -> McpError:
    return McpError(INVALID_PARAMS, message)


def unsupported_version(requested: Any, supported: tuple[str, ...] = MODERN_VERSIONS) -> McpError:
    data = {"supported": list(supported), "requested": requested if isinstance(requested, str) else ""}
    return McpError(UNSUPPORTED_PROTOCOL_VERSION, "Unsupported protocol version", data)


def valid_id(value: Any) -> bool:
    # JSON-RPC ids are strings or numbers; MCP forbids null, and a bool is not a number here.
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def is_request(message: Any) -> bool:
    return isinstance(message, dict) and "method" in message and "id" in message


def is_notification(message: Any) -> bool:
    return isinstance(message, dict) and "method" in message and "id" not in message


def is_response(message: Any) -> bool:
    return (
        isinstance(message, dict) and "method" not in message and ("result" in message or "error" in message)
    )


def check_request(message: Any) -> tuple[RequestId, str, dict[str, Any]]:
    """(id, method, params) of a well-formed request; McpError -32600/-32602 otherwise."""
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        raise McpError(INVALID_REQUEST, 'Not a JSON-RPC 2.0 request (need "jsonrpc": "2.0")')
    if not valid_id(message.get("id")):
        raise McpError(INVALID_REQUEST, "The request id must be a string or a number")
    method = message.get("method")
    if not isinstance(method, str) or not method:
        raise McpError(INVALID_REQUEST, "The request method must be a non-empty string")
    params = message.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise McpError(INVALID_PARAMS, "params must be an object")
    return message["id"], method, params


def check_notification(message: Any) -> str:
    if (
        not isinstance(message, dict)
        or message.get("jsonrpc") != "2.0"
        or not isinstance(message.get("method"), str)
    ):
        raise McpError(INVALID_REQUEST, "Not a JSON-RPC 2.0 notification")
    return message["method"]


def decode_header_value(value: str | None) -> str | None:
    """An Mcp-Name value, unwrapping the `=?base64?…?=` form clients use for non-ASCII names."""
    if value is None or not (value.startswith("=?base64?") and value.endswith("?=")):
        return value
    payload = value[len("=?base64?") : -2]
    try:
        decoded = base64.b64decode(payload, validate=True)
        if base64.b64encode(decoded).decode("ascii") != payload:
            return None
        return decoded.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def check_modern_envelope(message: dict[str, Any], headers: Mapping[str, str], raw_headers: list[str]) -> str:
    """The 2026-07-28 ladder: `_meta` envelope, routing headers equal to the body, a served version."""
    for name in ("mcp-protocol-version", "mcp-method", "mcp-name"):
        if raw_headers.count(name) > 1:
            raise McpError(HEADER_MISMATCH, f"{name} header appears more than once")
    params = message.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    if not isinstance(meta, dict):
        raise invalid_params(
            f"params._meta must be an object carrying {PROTOCOL_VERSION_META!r} and {CLIENT_CAPABILITIES_META!r}"
        )
    missing = [key for key in (PROTOCOL_VERSION_META, CLIENT_CAPABILITIES_META) if key not in meta]
    if missing:
        raise invalid_params(f"params._meta is missing the required envelope key(s): {', '.join(missing)}")
    version = meta[PROTOCOL_VERSION_META]
    if headers.get("mcp-protocol-version") != version:
        raise McpError(
            HEADER_MISMATCH, "MCP-Protocol-Version header does not match the envelope's protocol version"
        )
    method = message.get("method")
    if headers.get("mcp-method") != method:
        raise McpError(HEADER_MISMATCH, "Mcp-Method header does not match the request body's method")
    name_key = NAME_BEARING.get(method) if isinstance(method, str) else None
    if name_key is not None and isinstance(params, dict):
        body_value = params.get(name_key)
        if body_value is not None and decode_header_value(headers.get("mcp-name")) != body_value:
            raise McpError(HEADER_MISMATCH, f"Mcp-Name header does not match the request body's {name_key!r}")
    if not isinstance(version, str):
        raise invalid_params("the protocol-version envelope value must be a string")
    if version not in MODERN_VERSIONS:
        raise unsupported_version(version)
    return version


def negotiate_handshake(requested: Any) -> str:
    """The revision to answer `initialize` with: the client's when we serve it, else our newest."""
    return requested if requested in HANDSHAKE_VERSIONS else LATEST_HANDSHAKE


def shape_result(
    method: str, version: str, result: dict[str, Any], server_info: dict[str, Any]
) -> dict[str, Any]:
    """Fit a result to the client's revision: 2026-07-28 fields added, or removed for older clients."""
    shaped = dict(result)
    meta = shaped.get("_meta")
    if isinstance(meta, dict):
        # An upstream's identity stamp is not ours to pass on.
        meta = {k: v for k, v in meta.items() if k != SERVER_INFO_META}
    if version in MODERN_VERSIONS:
        shaped["resultType"] = shaped.get("resultType") or "complete"
        if method in CACHEABLE:
            # Lists reflect this caller's token (allow/deny, project): never shareable, never stale-cached.
            shaped["cacheScope"] = "private"
            shaped["ttlMs"] = 0
        meta = {**(meta or {}), SERVER_INFO_META: server_info}
    else:
        for key in ("resultType", "cacheScope", "ttlMs"):
            shaped.pop(key, None)
    if meta:
        shaped["_meta"] = meta
    else:
        shaped.pop("_meta", None)
    return shaped


def result_message(request_id: RequestId, result: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def error_message(request_id: RequestId | None, error: McpError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": error.to_json()}


def wants_sse(accept: str) -> bool:
    """SSE only for a client that accepts it and not JSON: one answer per POST needs no stream."""
    kinds = {part.split(";", 1)[0].strip().lower() for part in accept.split(",")}
    return "text/event-stream" in kinds and not ({"application/json", "application/*", "*/*"} & kinds)


def accepts_sse(accept: str) -> bool:
    kinds = {part.split(";", 1)[0].strip().lower() for part in accept.split(",")}
    return bool({"text/event-stream", "text/*", "*/*"} & kinds)


def sse_frame(message: Any) -> bytes:
    return b"event: message\r\ndata: " + orjson.dumps(message) + b"\r\n\r\n"


def accepts_any(accept: str) -> bool:
    if not accept.strip():
        return True
    kinds = {part.split(";", 1)[0].strip().lower() for part in accept.split(",")}
    return bool({"application/json", "text/event-stream", "application/*", "text/*", "*/*"} & kinds)


def encode(payload: Any, *, sse: bool, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    if sse:
        frame = sse_frame(payload)
        sse_headers = {"cache-control": "no-cache, no-transform", **(headers or {})}
        return Response(frame, status, sse_headers, content_type="text/event-stream")
    return Response(orjson.dumps(payload), status, headers, content_type="application/json")


def error_response(
    error: McpError,
    request_id: RequestId | None = None,
    *,
    status: int,
    headers: dict[str, str] | None = None,
) -> Response:
    """A JSON-RPC error at an HTTP status (transport-level refusals are always JSON)."""
    return encode(error_message(request_id, error), sse=False, status=status, headers=headers)
