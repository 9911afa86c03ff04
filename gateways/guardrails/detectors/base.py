"""What every detector implements: span detectors find (and may redact) matches, payload detectors judge
the payload as a whole (size, injection score, schema) and can only block or warn."""

from __future__ import annotations

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


def re2_compile(pattern: str, case_insensitive: bool = False) -> Any:
    """An RE2 pattern (google-re2): linear-time matching, one pass for a whole alternation."""
    import re2

    options = re2.Options()
    options.log_errors = False
    options.case_sensitive = not case_insensitive
    return re2.compile(pattern, options)


def re2_finditer(pattern: Any, text: str) -> Any:
    """RE2 matches with character offsets. ASCII text goes in as bytes: offsets are the same and the
    binding skips its per-match byte-to-character conversion (2x faster on a 32 KB prompt)."""
    if text.isascii():
        return pattern.finditer(text.encode("ascii"))
    return pattern.finditer(text)


def is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def bounded(text: str, start: int, end: int, before: str = "", after: str = "") -> bool:
    """No word character (nor one of `before` / `after`) right before `start` or right after `end`:
    RE2 has no lookarounds, so detectors check their boundaries on the candidates it finds."""
    if start > 0 and (is_word(text[start - 1]) or text[start - 1] in before):
        return False
    return not (end < len(text) and (is_word(text[end]) or text[end] in after))
