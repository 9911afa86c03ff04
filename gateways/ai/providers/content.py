"""Helpers over OpenAI message contents shared by the translating adapters."""

from __future__ import annotations

from gateways.ai.providers.base import JSON, AdapterError, ProviderFailure


def bad_request(message: str) -> AdapterError:
    """A request the provider cannot express: refused before any I/O, as OpenAI's 400."""
    return AdapterError(ProviderFailure(400, "invalid_request_error", message))


def text_of(content: object) -> str:
    """The text of an OpenAI message content: a string, or the text parts of a list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def image_url(part: JSON) -> str:
    image = part.get("image_url")
    return str(image.get("url", "")) if isinstance(image, dict) else str(image or "")
