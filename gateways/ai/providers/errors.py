"""Provider error answers normalised into ProviderFailure: OpenAI error types, no credential echoed."""

from __future__ import annotations

import json
import re

from gateways.ai.providers.base import ProviderFailure

OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}
MAX_MESSAGE = 500

# Anything shaped like a provider key, wherever an upstream chose to quote it back (OpenAI quotes a
# masked key in its 401 message; a misbehaving proxy might quote the header whole).
_KEY_PATTERNS = re.compile(
    r"(sk-[A-Za-z0-9_*.\-]{6,}|AIza[0-9A-Za-z_\-]{10,}|gsk_[A-Za-z0-9*]{6,}|"
    r"(?i:bearer)\s+\S+|[A-Fa-f0-9]{32,}|[A-Za-z0-9]{40,})"
)


def error_type(status: int) -> str:
    if status in OPENAI_TYPES:
        return OPENAI_TYPES[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def scrub(message: str) -> str:
    """The message with key-like strings removed, bounded in length."""
    return _KEY_PATTERNS.sub("[redacted]", message)[:MAX_MESSAGE]


def parse_json(body: bytes) -> object:
    try:
        return json.loads(body)
    except ValueError:
        return None


def build(provider: str, status: int, message: str | None, code: str | None = None) -> ProviderFailure:
    """A ProviderFailure with a safe message; 401/403 get a fixed one (upstreams quote keys there)."""
    if status == 529:  # Anthropic's "overloaded": a 503 in everyone else's words
        status = 503
    if status == 401:
        message = f"The {provider} API rejected the credential (check the key configured for it)"
    elif status == 403:
        message = f"The {provider} API refused access: {scrub(message or 'permission denied')}"
    elif not message:
        message = f"The {provider} API answered HTTP {status}"
    else:
        message = scrub(message)
    return ProviderFailure(status=status, type=error_type(status), message=message, code=_safe_code(code))


def _safe_code(code: object) -> str | None:
    if code is None or code == "":
        return None
    text = str(code)
    return text if re.fullmatch(r"[A-Za-z0-9_.\-]{1,64}", text) else None


def from_openai(provider: str, status: int, body: bytes) -> ProviderFailure:
    """`{"error": {"message", "type", "code"}}`, as OpenAI and the OpenAI-compatible servers answer."""
    data = parse_json(body)
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        return build(provider, status, _text(error.get("message")), error.get("code"))
    if isinstance(error, str):  # Ollama, some vLLM versions: {"error": "message"}
        return build(provider, status, error)
    if isinstance(data, dict) and isinstance(data.get("detail"), str):  # FastAPI-based servers
        return build(provider, status, data["detail"])
    return build(provider, status, None)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
