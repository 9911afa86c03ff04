"""PromptGate's errors: the catalogue of error codes, the one JSON error shape and its handlers.

Every non-admin route answers `{"error": {"code", "message", "fields"?}}`; the OpenAI-compatible
surface carries the same code in OpenAI's shape, the Messages API in Anthropic's, MCP in JSON-RPC's
`data.code`. `ErrorCode` is the catalogue of those codes: callers name a member, the wire carries its
value (a StrEnum member is the string itself), and a new code is added here, once.

The exceptions that carry a code, and where they live:

* PromptGateError (here): a refusal with a code, a status and optional fields
  + OpenAIError (gateways/ai/errors.py): adds OpenAI's `type` and `param`
  + SsrfBlocked (gateways/common/ssrf.py): ssrf_blocked
  + RateLimiterUnavailable (gateways/common/ratelimit.py): rate_limiter_unavailable
  + GuardrailBlocked (gateways/guardrails/verdicts.py): guardrail_blocked
    + GuardrailFailed: guardrail_error
* UpstreamError (gateways/common/transport/upstream_errors.py): the transport's failures, upstream_error
  + UpstreamTimeout: upstream_timeout
  + UpstreamUnreachable: upstream_unreachable
  + InvalidUpstreamURL, InvalidRequestHeader, BodyTooLarge, StaleConnection: upstream_error
* McpUpstreamError (gateways/mcp/upstream.py): an upstream MCP server unusable, with its code
  + SessionExpired: upstream_session_expired
* UpstreamRpcError (gateways/mcp/upstream.py): an upstream's JSON-RPC error, passed on as it is
* McpError (gateways/mcp/protocol.py): a JSON-RPC error of the gateway's own MCP server
* AdapterError (gateways/ai/providers/base.py): a provider adapter cannot go on; carries a
  ProviderFailure (a failure in OpenAI's terms) that gateways/ai/failover.py maps to a code
* OAuthError (credentials/oauth/protocol.py): a token endpoint's refusal, mapped to oauth_* codes
"""

from __future__ import annotations

import enum
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.http import Http404, JsonResponse
from django.views.csrf import csrf_failure as django_csrf_failure
from django.views.defaults import page_not_found, permission_denied, server_error
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_default_handler
from rest_framework.views import set_rollback


class ErrorCode(enum.StrEnum):
    """Every error code PromptGate answers. Wire values: never change one; add a new one here."""

    AUTHENTICATION_FAILED = "authentication_failed"
    BAD_REQUEST = "bad_request"
    BUDGET_EXCEEDED = "budget_exceeded"
    CONFIRMATION_REQUIRED = "confirmation_required"
    CREDENTIAL_IN_USE = "credential_in_use"
    CREDENTIAL_PROVIDER_MISMATCH = "credential_provider_mismatch"
    CSRF_FAILED = "csrf_failed"
    ENDPOINT_NOT_FOUND = "endpoint_not_found"
    ENDPOINT_UNAVAILABLE = "endpoint_unavailable"
    ERROR = "error"
    EXPIRED_STATE = "expired_state"
    FORBIDDEN = "forbidden"
    GUARDRAIL_BLOCKED = "guardrail_blocked"
    GUARDRAIL_ERROR = "guardrail_error"
    GUARDRAIL_LOCKED = "guardrail_locked"
    IMMUTABLE_FIELD = "immutable_field"
    INSUFFICIENT_SCOPE = "insufficient_scope"
    INTERNAL_ERROR = "internal_error"
    INVALID_PATH = "invalid_path"
    INVALID_REQUEST = "invalid_request"
    INVALID_STATE = "invalid_state"
    INVALID_TOKEN = "invalid_token"
    INVALID_VALUE = "invalid_value"
    LAST_OWNER = "last_owner"
    MALFORMED_JSON = "malformed_json"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    MISSING_CODE = "missing_code"
    MISSING_TOKEN = "missing_token"
    MODEL_AMBIGUOUS = "model_ambiguous"
    MODEL_NOT_FOUND = "model_not_found"
    NOT_ACCEPTABLE = "not_acceptable"
    NOT_AUTHENTICATED = "not_authenticated"
    NOT_FOUND = "not_found"
    OAUTH_CALLBACK_FAILED = "oauth_callback_failed"
    OAUTH_NO_REFRESH_TOKEN = "oauth_no_refresh_token"
    OAUTH_NOT_CONNECTED = "oauth_not_connected"
    OAUTH_REAUTH_REQUIRED = "oauth_reauth_required"
    OAUTH_REFRESH_FAILED = "oauth_refresh_failed"
    ORIGIN_NOT_ALLOWED = "origin_not_allowed"
    PARSE_ERROR = "parse_error"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    PERMISSION_DENIED = "permission_denied"
    PROJECT_INACTIVE = "project_inactive"
    PROJECT_LIMIT_REACHED = "project_limit_reached"
    PROMPT_TOO_LARGE = "prompt_too_large"
    PROVIDER_AUTH_FAILED = "provider_auth_failed"
    PROVIDER_DISABLED = "provider_disabled"
    PROVIDER_ERROR = "provider_error"
    PROVIDER_NOT_ASSIGNED = "provider_not_assigned"
    RATE_LIMITED = "rate_limited"
    RATE_LIMITER_UNAVAILABLE = "rate_limiter_unavailable"
    REDIS_UNAVAILABLE = "redis_unavailable"
    REPLAYED_STATE = "replayed_state"
    RESPONSE_NOT_FOUND = "response_not_found"
    RESPONSE_STORE_UNAVAILABLE = "response_store_unavailable"
    ROUTE_NOT_IN_PROJECT_TYPE = "route_not_in_project_type"
    SCHEMA_VIOLATION = "schema_violation"
    SESSION_BUSY = "session_busy"
    SESSION_NOT_FOUND = "session_not_found"
    SESSION_STORE_UNAVAILABLE = "session_store_unavailable"
    SSRF_BLOCKED = "ssrf_blocked"
    STREAM_NOT_ALLOWED = "stream_not_allowed"
    TOKEN_ERROR = "token_error"
    TOKEN_EXPIRED = "token_expired"
    TOKEN_REQUEST_CAP_REACHED = "token_request_cap_reached"
    TOKEN_REVOKED = "token_revoked"
    TOOL_NOT_ALLOWED = "tool_not_allowed"
    UNKNOWN_CONNECTION = "unknown_connection"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    UPSTREAM_ERROR = "upstream_error"
    UPSTREAM_RATE_LIMITED = "upstream_rate_limited"
    UPSTREAM_REJECTED = "upstream_rejected"
    UPSTREAM_SESSION_EXPIRED = "upstream_session_expired"
    UPSTREAM_TIMEOUT = "upstream_timeout"
    UPSTREAM_UNREACHABLE = "upstream_unreachable"
    USER_MISMATCH = "user_mismatch"
    VALIDATION_ERROR = "validation_error"
    WEBHOOK_DISABLED = "webhook_disabled"
    WRONG_PROJECT = "wrong_project"
    WRONG_PROJECT_TYPE = "wrong_project_type"


class PromptGateError(Exception):
    """A refusal with a stable code, raised by services and mapped to a response by each surface."""

    status = 400
    code: str = ErrorCode.BAD_REQUEST  # a member, or a string callers pass (StrEnum members are str)

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        fields: dict[str, list[str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.code
        self.status = status or self.status
        self.fields = fields
        self.headers = headers or {}


def error_body(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error}


def json_error(
    status: int, code: str, message: str, fields: dict[str, Any] | None = None, **headers: str
) -> JsonResponse:
    response = JsonResponse(error_body(code, message, fields), status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _flatten_fields(detail: Any) -> dict[str, Any]:
    if isinstance(detail, dict):
        return {str(k): _messages(v) for k, v in detail.items()}
    return {"non_field_errors": _messages(detail)}


def _messages(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _messages(v) for k, v in value.items()}
    if isinstance(value, list):
        if all(isinstance(v, str) for v in value):
            return [str(v) for v in value]
        return [_messages(v) for v in value]
    return [str(value)]


_DRF_CODES: list[tuple[type[Exception], int, str]] = [
    (drf_exceptions.ParseError, 400, ErrorCode.MALFORMED_JSON),
    (drf_exceptions.NotAuthenticated, 401, ErrorCode.NOT_AUTHENTICATED),
    (drf_exceptions.AuthenticationFailed, 401, ErrorCode.AUTHENTICATION_FAILED),
    (drf_exceptions.PermissionDenied, 403, ErrorCode.PERMISSION_DENIED),
    (drf_exceptions.NotFound, 404, ErrorCode.NOT_FOUND),
    (drf_exceptions.MethodNotAllowed, 405, ErrorCode.METHOD_NOT_ALLOWED),
    (drf_exceptions.NotAcceptable, 406, ErrorCode.NOT_ACCEPTABLE),
    (drf_exceptions.UnsupportedMediaType, 415, ErrorCode.UNSUPPORTED_MEDIA_TYPE),
    (drf_exceptions.Throttled, 429, ErrorCode.RATE_LIMITED),
]


def drf_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, reshaped: every management API error uses the PromptGate error shape."""

    # A refusal after earlier writes in the same request must not commit them (ATOMIC_REQUESTS).
    if isinstance(exc, PromptGateError):
        set_rollback()
        return Response(error_body(exc.code, exc.message, exc.fields), status=exc.status, headers=exc.headers)
    if isinstance(exc, RequestDataTooBig):
        set_rollback()
        return Response(error_body(ErrorCode.PAYLOAD_TOO_LARGE, "Request body is too large"), status=413)
    if isinstance(exc, DataError):
        # The database refused a value (a NUL byte, a number out of range): the caller's input.
        set_rollback()
        return Response(
            error_body(ErrorCode.INVALID_VALUE, "A value is not acceptable to the database"), status=400
        )
    if isinstance(exc, DjangoValidationError):
        # A model or service validation that escaped a view is the caller's bad input, not a 500.
        set_rollback()
        fields = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return Response(error_body(ErrorCode.VALIDATION_ERROR, "Invalid input", fields), status=400)
    # DRF converts these itself, but the code lookup below needs the DRF class.
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound("Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    response = drf_default_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, drf_exceptions.ValidationError):
        fields = _flatten_fields(exc.detail)
        blocked = _ssrf_refusal(fields, context)
        if blocked is not None:
            name, message = blocked
            fields[name] = [message]
            response.data = error_body(ErrorCode.SSRF_BLOCKED, message, fields)
            return response
        response.data = error_body(ErrorCode.VALIDATION_ERROR, "Invalid input", fields)
        return response
    code: str = ErrorCode.ERROR
    message = "Request failed"
    for klass, status, klass_code in _DRF_CODES:
        if isinstance(exc, klass):
            code = klass_code
            response.status_code = status
            break
    detail = getattr(exc, "detail", None)
    if isinstance(detail, str):
        message = str(detail)
    response.data = error_body(code, message)
    return response


def _ssrf_refusal(fields: dict[str, Any], context: dict[str, Any]) -> tuple[str, str] | None:
    """(field, message) when a refused `*url` field names an address the SSRF guard blocks.

    Whichever validator saw it first (Django's URLValidator refuses `http://127.1/`), a URL pointing
    inside answers one way everywhere: `400 ssrf_blocked`, naming the address class, never the address.
    """
    from gateways.common import ssrf  # local: ssrf imports this module (a cycle)

    data = getattr(context.get("request"), "data", None)
    if not isinstance(data, dict):
        return None
    for name in fields:
        value = data.get(name)
        if name.endswith("url") and isinstance(value, str) and value:
            blocked = ssrf.refusal(value)
            if blocked is not None:
                return name, blocked.saved_message()
    return None


def _is_admin(request: Any) -> bool:
    return str(request.path).startswith("/admin/")


def handler404(request: Any, exception: Exception | None = None) -> Any:
    if _is_admin(request):
        return page_not_found(request, exception)
    return json_error(404, ErrorCode.NOT_FOUND, "Not found")


def handler500(request: Any) -> Any:
    if _is_admin(request):
        return server_error(request)
    return json_error(500, ErrorCode.INTERNAL_ERROR, "Internal server error")


def handler400(request: Any, exception: Exception | None = None) -> Any:
    return json_error(400, ErrorCode.BAD_REQUEST, "Bad request")


def handler403(request: Any, exception: Exception | None = None) -> Any:
    if _is_admin(request):
        return permission_denied(request, exception or DjangoPermissionDenied())
    return json_error(403, ErrorCode.PERMISSION_DENIED, "Permission denied")


def csrf_failure(request: Any, reason: str = "") -> Any:
    """CSRF refusals: Django's page in the admin, the JSON error everywhere else."""
    if _is_admin(request):
        return django_csrf_failure(request, reason)
    return json_error(403, ErrorCode.CSRF_FAILED, "CSRF verification failed")
