"""`secrets`: provider API keys, JWTs, private-key blocks and PromptGate's own tokens (checksum-verified).

Patterns follow the providers' published key formats (the same ones secret scanners use), in one RE2
alternation (one linear pass); RE2 has no lookarounds, so the few boundary rules are checked on the
candidates. Every type has a longest match (WIDTHS) for the stream hold-back window; a private-key block
whose END line has not arrived yet is held back on streams from its BEGIN line on (`open_at`).
"""

from __future__ import annotations

import re
from typing import Any

from gateways.guardrails.detectors.base import (
    ConfigError,
    Span,
    SpanDetector,
    check_keys,
    re2_compile,
    re2_spans,
)
from projects import tokens

PRIVATE_KEY_LIMIT = 16_000
# Leftmost-first: anthropic before openai (both start with sk-).
PATTERNS = {
    "anthropic": r"\bsk-ant-(?:api\d\d-|admin\d\d-)?[A-Za-z0-9_-]{20,200}",
    "openai": r"\bsk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_-]{20,200}",
    "aws": r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b",
    "github": r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b",
    "slack": r"\bxox[abposr]-[A-Za-z0-9-]{10,200}|https://hooks\.slack\.com/services/[A-Za-z0-9/_-]{10,200}",
    "google": r"\bAIza[0-9A-Za-z_-]{35}",
    "jwt": r"\beyJ[A-Za-z0-9_-]{5,1000}\.eyJ[A-Za-z0-9_-]{5,1000}\.[A-Za-z0-9_-]{10,1000}",
    "private_key": r"-----BEGIN [A-Z ]{0,40}PRIVATE KEY-----(?s:.*?)-----END [A-Z ]{0,40}PRIVATE KEY-----",
    "promptgate": r"\bpg_(?:live|test)_[0-9A-Za-z]{38}",
}
# The prefilter's gate per type (prefilter.py): a literal every match holds (a superset of the pattern),
# so the stage's one RE2 set stays small: the counted repetitions above ({20,200}, {5,1000}, …) would
# add thousands of NFA states to it.
GATES = {
    "anthropic": r"sk-ant-",
    "openai": r"sk-",
    "aws": r"AKIA|ASIA|ABIA|ACCA",
    "github": r"gh[pousr]_|github_pat_",
    "slack": r"xox[abposr]-|https://hooks\.slack\.com/services/",
    "google": r"AIza",
    "jwt": r"eyJ[A-Za-z0-9_-]{5}",
    "private_key": r"-----BEGIN ",
    "promptgate": r"pg_(?:live|test)_",
}
WIDTHS = {
    "anthropic": 220,
    "openai": 220,
    "aws": 20,
    "github": 270,
    "slack": 240,
    "google": 39,
    "jwt": 3020,
    "private_key": PRIVATE_KEY_LIMIT + 100,
    "promptgate": tokens.TOKEN_LENGTH,
}
TYPES = tuple(PATTERNS)
_BEGIN = re.compile(r"-----BEGIN [A-Z ]{0,40}PRIVATE KEY-----")
_END = re.compile(r"-----END [A-Z ]{0,40}PRIVATE KEY-----")
_KEY_CHARS = re.compile(r"[0-9A-Za-z_-]")


def validate(config: Any) -> dict[str, Any]:
    config = check_keys(config, {"types", "placeholder"})
    types = config.get("types", list(TYPES))
    if not isinstance(types, list) or not types or any(t not in TYPES for t in types):
        raise ConfigError(f"types must be a non-empty list drawn from {', '.join(TYPES)}")
    value = config.get("placeholder", "[SECRET]")
    if not isinstance(value, str) or len(value) > 100:
        raise ConfigError("placeholder must be a string of at most 100 characters")
    return {"types": list(dict.fromkeys(types)), "placeholder": value}


def _accepted(kind: str, text: str, start: int, end: int) -> bool:
    value = text[start:end]
    if kind == "openai" and value.startswith("sk-ant-"):
        return False  # an Anthropic key too short for its own pattern
    if kind in ("google", "promptgate") and end < len(text) and _KEY_CHARS.match(text[end]):
        return False  # longer than the format: something else
    if kind == "promptgate":
        return tokens.is_well_formed(value)  # the shape without its checksum is not one of ours
    return True


class SecretsDetector(SpanDetector):
    ordered = True

    def __init__(self, config: dict[str, Any]) -> None:
        self.types = tuple(t for t in TYPES if t in config["types"])
        self.placeholder = config["placeholder"]
        self.pattern = re2_compile("|".join(f"({PATTERNS[t]})" for t in self.types))
        self.by_group = ("", *self.types)  # lastindex → type (the binding's lastgroup is slow)
        self.prefilter = tuple(GATES[t] for t in self.types)
        self.max_match = max(WIDTHS[t] for t in self.types)
        self.watch_keys = "private_key" in self.types

    def find(self, text: str) -> list[Span]:
        spans = []
        for start, end, group in re2_spans(self.pattern, text):
            kind = self.by_group[group]
            if not _accepted(kind, text, start, end):
                continue
            if kind == "private_key" and end - start > WIDTHS["private_key"]:
                continue
            spans.append(Span(start, end, self.placeholder))
        return spans

    def open_at(self, text: str) -> int | None:
        if not self.watch_keys or "-----BEGIN" not in text:
            return None
        begins = list(_BEGIN.finditer(text))
        if not begins:
            return None
        last = begins[-1]
        if _END.search(text, last.end()) is None and len(text) - last.start() <= PRIVATE_KEY_LIMIT:
            return last.start()
        return None


def build(config: dict[str, Any]) -> SecretsDetector:
    return SecretsDetector(config)
