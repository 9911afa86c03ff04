"""The one JSON error shape of PromptGate, `{"error": {"code", "message", "fields"?}}`, and its handlers."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_default_handler
from rest_framework.views import set_rollback


class PromptGateError(Exception):
    """A refusal with a stable code, raised by services and mapped to a response by each surface."""

    status = 400
    code = "bad_request"

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
    (drf_exceptions.ParseError, 400, "malformed_json"),
    (drf_exceptions.NotAuthenticated, 401, "not_authenticated"),
    (drf_exceptions.AuthenticationFailed, 401, "authentication_failed"),
    (drf_exceptions.PermissionDenied, 403, "permission_denied"),
    (drf_exceptions.NotFound, 404, "not_found"),
    (drf_exceptions.MethodNotAllowed, 405, "method_not_allowed"),
    (drf_exceptions.NotAcceptable, 406, "not_acceptable"),
    (drf_exceptions.UnsupportedMediaType, 415, "unsupported_media_type"),
    (drf_exceptions.Throttled, 429, "rate_limited"),
]


def drf_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, reshaped: every management API error uses the PromptGate error shape."""
    from django.core.exceptions import RequestDataTooBig
    from django.core.exceptions import ValidationError as DjangoValidationError
    from django.db import DataError

    # A refusal after earlier writes in the same request must not commit them (ATOMIC_REQUESTS).
    if isinstance(exc, PromptGateError):
        set_rollback()
        return Response(error_body(exc.code, exc.message, exc.fields), status=exc.status, headers=exc.headers)
    if isinstance(exc, RequestDataTooBig):
        set_rollback()
        return Response(error_body("payload_too_large", "Request body is too large"), status=413)
    if isinstance(exc, DataError):
        # The database refused a value (a NUL byte, a number out of range): the caller's input.
        set_rollback()
        return Response(error_body("invalid_value", "A value is not acceptable to the database"), status=400)
    if isinstance(exc, DjangoValidationError):
        # A model or service validation that escaped a view is the caller's bad input, not a 500.
        set_rollback()
        fields = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return Response(error_body("validation_error", "Invalid input", fields), status=400)
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
            response.data = error_body("ssrf_blocked", message, fields)
            return response
        response.data = error_body("validation_error", "Invalid input", fields)
        return response
    code, message = "error", "Request failed"
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
    from gateways.common import ssrf

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
        from django.views.defaults import page_not_found

        return page_not_found(request, exception)
    return json_error(404, "not_found", "Not found")


def handler500(request: Any) -> Any:
    if _is_admin(request):
        from django.views.defaults import server_error

        return server_error(request)
    return json_error(500, "internal_error", "Internal server error")


def handler400(request: Any, exception: Exception | None = None) -> Any:
    return json_error(400, "bad_request", "Bad request")


def handler403(request: Any, exception: Exception | None = None) -> Any:
    if _is_admin(request):
        from django.views.defaults import permission_denied

        return permission_denied(request, exception or DjangoPermissionDenied())
    return json_error(403, "permission_denied", "Permission denied")


def csrf_failure(request: Any, reason: str = "") -> Any:
    """CSRF refusals: Django's page in the admin, the JSON error everywhere else."""
    if _is_admin(request):
        from django.views.csrf import csrf_failure as django_csrf_failure

        return django_csrf_failure(request, reason)
    return json_error(403, "csrf_failed", "CSRF verification failed")
