"""`secrets`: provider API keys, JWTs, private-key blocks and PromptGate's own tokens (checksum-verified).

Patterns follow the providers' published key formats (the same ones secret scanners use); every
quantifier is bounded so the stream hold-back window stays finite. A private-key block whose END line
has not arrived yet is held back on streams from its BEGIN line on (`open_at`).
"""

from __future__ import annotations

import re
from typing import Any

from gateways.guardrails.detectors.base import ConfigError, Span, SpanDetector, check_keys, pattern_width
from projects import tokens

PRIVATE_KEY_LIMIT = 16_000
PATTERNS = {
    "anthropic": r"\bsk-ant-(?:api\d\d-|admin\d\d-)?[A-Za-z0-9_-]{20,200}",
    "openai": r"\bsk-(?:proj-|svcacct-|admin-|None-)?(?!ant-)[A-Za-z0-9_-]{20,200}",
    "aws": r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b",
    "github": r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b",
    "slack": r"\bxox[abposr]-[A-Za-z0-9-]{10,200}|https://hooks\.slack\.com/services/[A-Za-z0-9/_-]{10,200}",
    "google": r"\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])",
    "jwt": r"\beyJ[A-Za-z0-9_-]{5,4000}\.eyJ[A-Za-z0-9_-]{5,4000}\.[A-Za-z0-9_-]{10,4000}",
    "private_key": r"-----BEGIN [A-Z ]{0,40}PRIVATE KEY-----[\s\S]{0,"
    + str(PRIVATE_KEY_LIMIT)
    + r"}?-----END [A-Z ]{0,40}PRIVATE KEY-----",
    "promptgate": r"\bpg_(?:live|test)_[0-9A-Za-z]{38}(?![0-9A-Za-z])",
}
TYPES = tuple(PATTERNS)
_BEGIN = re.compile(r"-----BEGIN [A-Z ]{0,40}PRIVATE KEY-----")
_END = re.compile(r"-----END [A-Z ]{0,40}PRIVATE KEY-----")


def validate(config: Any) -> dict[str, Any]:
    config = check_keys(config, {"types", "placeholder"})
    types = config.get("types", list(TYPES))
    if not isinstance(types, list) or not types or any(t not in TYPES for t in types):
        raise ConfigError(f"types must be a non-empty list drawn from {', '.join(TYPES)}")
    value = config.get("placeholder", "[SECRET]")
    if not isinstance(value, str) or len(value) > 100:
        raise ConfigError("placeholder must be a string of at most 100 characters")
    return {"types": list(dict.fromkeys(types)), "placeholder": value}


class SecretsDetector(SpanDetector):
    def __init__(self, config: dict[str, Any]) -> None:
        self.types = tuple(config["types"])
        self.placeholder = config["placeholder"]
        self.pattern = re.compile("|".join(f"(?P<{t}>{PATTERNS[t]})" for t in self.types))
        self.max_match = max(pattern_width(PATTERNS[t]) for t in self.types)
        self.watch_keys = "private_key" in self.types

    def find(self, text: str) -> list[Span]:
        spans = []
        for match in self.pattern.finditer(text):
            if match.lastgroup == "promptgate" and not tokens.is_well_formed(match.group()):
                continue  # the shape of a token without its checksum: not one of ours
            spans.append(Span(match.start(), match.end(), self.placeholder))
        return spans

    def open_at(self, text: str) -> int | None:
        if not self.watch_keys:
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
