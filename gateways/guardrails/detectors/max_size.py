"""`max_size`: refuse (or record) payloads past a number of characters, approximate tokens or messages.

Tokens are approximated as characters / 4 (OpenAI's rule of thumb), so no tokenizer runs per request.
"""

from __future__ import annotations

from typing import Any

from gateways.guardrails.detectors.base import ConfigError, Payload, PayloadDetector, check_keys

LIMITS = ("max_chars", "max_tokens", "max_messages")


def validate(config: Any) -> dict[str, Any]:
    config = check_keys(config, set(LIMITS))
    out: dict[str, int] = {}
    for key in LIMITS:
        value = config.get(key)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"{key} must be a positive integer")
        out[key] = value
    if not out:
        raise ConfigError(f"set at least one of {', '.join(LIMITS)}")
    return out


class MaxSizeDetector(PayloadDetector):
    def __init__(self, config: dict[str, Any]) -> None:
        self.max_chars = config.get("max_chars")
        self.max_tokens = config.get("max_tokens")
        self.max_messages = config.get("max_messages")

    def count(self, payload: Payload) -> int:
        chars = sum(len(t) for t in payload.texts)
        over = 0
        if self.max_chars is not None and chars > self.max_chars:
            over += 1
        if self.max_tokens is not None and (chars + 3) // 4 > self.max_tokens:
            over += 1
        if self.max_messages is not None and payload.messages > self.max_messages:
            over += 1
        return over


def build(config: dict[str, Any]) -> MaxSizeDetector:
    return MaxSizeDetector(config)
