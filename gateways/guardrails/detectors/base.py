"""What every detector implements: span detectors find (and may redact) matches, payload detectors judge
the payload as a whole (size, injection score, schema) and can only block or warn."""

from __future__ import annotations

import re
from dataclasses import dataclass
from re import _parser as sre_parse  # type: ignore[attr-defined]  # stdlib; only to bound match widths
from typing import Any

UNBOUNDED = 1 << 30


class ConfigError(ValueError):
    """A rule's config is invalid; the message is shown to whoever saved it."""


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int
    placeholder: str


@dataclass(frozen=True, slots=True)
class Payload:
    """What payload detectors see: every text of one direction, and how many messages held them."""

    texts: tuple[str, ...]
    messages: int = 0


class SpanDetector:
    """Finds matches in one text. `max_match` bounds a match's length (the stream hold-back needs it)."""

    redactable = True
    max_match = 0

    def find(self, text: str) -> list[Span]:
        raise NotImplementedError

    def open_at(self, text: str) -> int | None:
        """Where a match that may still be growing starts (held back on streams); None when none does."""
        return None


class PayloadDetector:
    redactable = False
    max_match = 0

    def count(self, payload: Payload) -> int:
        raise NotImplementedError


Detector = SpanDetector | PayloadDetector


def pattern_width(pattern: str, flags: int = 0) -> int:
    """Longest text a pattern can match (UNBOUNDED for `+`, `*`, or what Python's parser cannot read)."""
    try:
        return min(int(sre_parse.parse(pattern, flags).getwidth()[1]), UNBOUNDED)
    except Exception:  # noqa: BLE001 - syntax Python does not read (\pN, …): the caller's bound applies
        return UNBOUNDED


def check_keys(config: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(config, dict):
        raise ConfigError("config must be a JSON object")
    unknown = sorted(set(config) - allowed)
    if unknown:
        raise ConfigError(
            f"unknown config keys: {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})"
        )
    return dict(config)


def placeholder(config: dict[str, Any], default: str) -> str:
    value = config.get("placeholder", default)
    if not isinstance(value, str) or len(value) > 100:
        raise ConfigError("placeholder must be a string of at most 100 characters")
    return value


def regex_spans(compiled: re.Pattern[str], text: str, label: str) -> list[Span]:
    return [Span(m.start(), m.end(), label) for m in compiled.finditer(text)]
