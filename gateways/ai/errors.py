"""OpenAI's error shape for the OpenAI-compatible surface, so the official SDKs raise the right exception."""

from __future__ import annotations

from typing import Any

from gateways.common.http import JSONResponse
from promptgate.errors import ErrorCode, PromptGateError

# OpenAI's `type` per status: the SDK picks its exception class from the status, clients branch on type.
_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


class OpenAIError(PromptGateError):
    """A refusal on the OpenAI surface, with OpenAI's `type` and `param` besides the PromptGate code."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        status: int,
        type: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, code=code, status=status, headers=headers)
        self.type = type or error_type(status)
        self.param = param


def error_type(status: int) -> str:
    if status >= 500:
        return "api_error"
    return _TYPES.get(status, "invalid_request_error")


def invalid_request(message: str, param: str | None = None, code: str = "invalid_request") -> OpenAIError:
    return OpenAIError(message, code=code, status=400, param=param)


def budget_exceeded(scope: str, period: str) -> OpenAIError:
    # x-should-retry: false stops the official SDKs retrying a 429 that cannot pass before the period ends.
    return OpenAIError(
        f"The {period} budget of this {scope} is exhausted",
        code=ErrorCode.BUDGET_EXCEEDED,
        status=429,
        type="insufficient_quota",
        headers={"x-should-retry": "false"},
    )


def body_of(exc: PromptGateError) -> dict[str, Any]:
    return {
        "error": {
            "message": exc.message,
            "type": getattr(exc, "type", None) or error_type(exc.status),
            "param": getattr(exc, "param", None),
            "code": exc.code,
        }
    }


def openai_error_response(exc: PromptGateError) -> JSONResponse:
    return JSONResponse(body_of(exc), exc.status, dict(exc.headers))
