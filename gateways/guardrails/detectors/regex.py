"""`regex`: an admin's patterns, compiled by RE2 (google-re2), whose matching time is linear in the
text: no pattern saved here can backtrack catastrophically. Invalid patterns (RE2 also refuses
backreferences and lookarounds) are refused at save with RE2's own message."""

from __future__ import annotations

from re import _parser as sre_parse  # type: ignore[attr-defined]  # stdlib; only to read match widths
from typing import Any

import re2

from gateways.guardrails.detectors.base import (
    UNBOUNDED,
    ConfigError,
    Span,
    SpanDetector,
    check_keys,
    pattern_width,
    placeholder,
    re2_spans,
)

MAX_PATTERNS = 100
DEFAULT_MAX_MATCH = 256  # the stream window for patterns without a finite width (`.+`, `\w*`)


def _options(case_insensitive: bool) -> Any:
    options = re2.Options()
    options.log_errors = False
    options.case_sensitive = not case_insensitive
    return options


def _compile(pattern: str, case_insensitive: bool) -> Any:
    try:
        return re2.compile(pattern, _options(case_insensitive))
    except re2.error as exc:
        message = exc.args[0] if exc.args else "invalid pattern"
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        raise ConfigError(f"invalid pattern {pattern[:100]!r}: {message}") from None


def validate(config: Any) -> dict[str, Any]:
    config = check_keys(config, {"patterns", "placeholder", "case_insensitive", "max_match"})
    patterns = config.get("patterns")
    if (
        not isinstance(patterns, list)
        or not 1 <= len(patterns) <= MAX_PATTERNS
        or not all(isinstance(p, str) and 0 < len(p) <= 2000 for p in patterns)
    ):
        raise ConfigError(f"patterns must be a list of 1 to {MAX_PATTERNS} non-empty strings")
    insensitive = config.get("case_insensitive", False)
    if not isinstance(insensitive, bool):
        raise ConfigError("case_insensitive must be true or false")
    for pattern in patterns:
        compiled = _compile(pattern, insensitive)
        if compiled.search("") is not None and compiled.match("") is not None and not pattern_width(pattern):
            raise ConfigError(f"pattern {pattern[:100]!r} only matches the empty string")
    max_match = config.get("max_match", DEFAULT_MAX_MATCH)
    if not isinstance(max_match, int) or not 1 <= max_match <= 4096:
        raise ConfigError("max_match must be an integer from 1 to 4096")
    return {
        "patterns": patterns,
        "placeholder": placeholder(config, "[REDACTED]"),
        "case_insensitive": insensitive,
        "max_match": max_match,
    }


class RegexDetector(SpanDetector):
    ordered = True

    def __init__(self, config: dict[str, Any]) -> None:
        patterns = config["patterns"]
        # One alternation: a single linear pass over the text whatever the number of patterns.
        self.pattern = _compile("|".join(f"(?:{p})" for p in patterns), config["case_insensitive"])
        self.placeholder = config["placeholder"]
        if all(_never_empty(p) for p in patterns):  # an empty-width match is no sign: never skipped
            self.prefilter = tuple(f"(?i:{p})" if config["case_insensitive"] else p for p in patterns)
        widths = [pattern_width(p) for p in patterns]
        self.max_match = max(w if w < UNBOUNDED else config["max_match"] for w in widths)

    def find(self, text: str) -> list[Span]:
        return [
            Span(start, end, self.placeholder)
            for start, end, _ in re2_spans(self.pattern, text)
            if end > start
        ]


def _never_empty(pattern: str) -> bool:
    """True when the pattern cannot match the empty string (Python's parser reads its shortest match;
    RE2-only syntax it cannot read counts as possibly empty)."""
    try:
        return int(sre_parse.parse(pattern).getwidth()[0]) > 0
    except Exception:  # noqa: BLE001 - syntax Python does not read (\pN, …)
        return False


def build(config: dict[str, Any]) -> RegexDetector:
    return RegexDetector(config)
