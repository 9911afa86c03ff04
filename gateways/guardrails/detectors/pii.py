"""`pii`: e-mail addresses, phone numbers, credit cards (Luhn), IBANs (mod-97), US SSNs, IP addresses.

Candidates come from one alternation per text (stdlib `re`; every branch bounded, no nested
quantifiers); numbers are then verified (Luhn, mod-97, `ipaddress`) so order ids and dates pass.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from gateways.guardrails.detectors.base import ConfigError, Span, SpanDetector, check_keys, pattern_width

ENTITIES = ("email", "phone", "credit_card", "iban", "us_ssn", "ip_address")
DEFAULT_PLACEHOLDERS = {
    "email": "[EMAIL]",
    "phone": "[PHONE]",
    "credit_card": "[CREDIT_CARD]",
    "iban": "[IBAN]",
    "us_ssn": "[US_SSN]",
    "ip_address": "[IP_ADDRESS]",
}
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
PATTERNS = {
    "email": rf"(?<![\w.%+-])[A-Za-z0-9._%+-]{{1,64}}@{_LABEL}(?:\.{_LABEL}){{1,6}}(?![\w-])",
    # International (+CC …) or North American ((555) 123-4567, 555-123-4567, 555.123.4567).
    "phone": r"(?<![\w+])(?:\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}|(?:\(\d{3}\) ?|\d{3}[.-])\d{3}[.-]\d{4})(?![\w])",
    "credit_card": r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])",
    "iban": r"(?<![\w])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![\w])",
    "us_ssn": r"(?<![\w-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\w-])",
    "ip_address": r"(?<![\w.:])(?:(?:\d{1,3}\.){3}\d{1,3}|(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4})(?![\w.:])",
}


def luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def iban_ok(candidate: str) -> bool:
    raw = candidate.replace(" ", "")
    if not 15 <= len(raw) <= 34:
        return False
    moved = raw[4:] + raw[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _verified(entity: str, text: str) -> bool:
    if entity == "credit_card":
        digits = re.sub(r"\D", "", text)
        return 13 <= len(digits) <= 19 and len(set(digits)) > 1 and luhn(digits)
    if entity == "iban":
        return iban_ok(text)
    if entity == "ip_address":
        try:
            ipaddress.ip_address(text)
        except ValueError:
            return False
        return True
    if entity == "phone":
        return 8 <= sum(c.isdigit() for c in text) <= 15
    return True


def validate(config: Any) -> dict[str, Any]:
    config = check_keys(config, {"entities", "placeholders"})
    entities = config.get("entities", list(ENTITIES))
    if not isinstance(entities, list) or not entities or any(e not in ENTITIES for e in entities):
        raise ConfigError(f"entities must be a non-empty list drawn from {', '.join(ENTITIES)}")
    placeholders = config.get("placeholders", {})
    if not isinstance(placeholders, dict) or any(
        k not in ENTITIES or not isinstance(v, str) or len(v) > 100 for k, v in placeholders.items()
    ):
        raise ConfigError("placeholders must map entity names to strings of at most 100 characters")
    return {"entities": list(dict.fromkeys(entities)), "placeholders": placeholders}


class PiiDetector(SpanDetector):
    def __init__(self, config: dict[str, Any]) -> None:
        self.entities = tuple(config["entities"])
        self.placeholders = {**DEFAULT_PLACEHOLDERS, **config.get("placeholders", {})}
        # Credit cards before phones and IBANs: a spaced card number also looks like a phone number.
        order = [
            e for e in ("email", "credit_card", "us_ssn", "iban", "ip_address", "phone") if e in self.entities
        ]
        self.pattern = re.compile("|".join(f"(?P<{e}>{PATTERNS[e]})" for e in order))
        self.max_match = max(pattern_width(PATTERNS[e]) for e in order)

    def find(self, text: str) -> list[Span]:
        spans = []
        for match in self.pattern.finditer(text):
            entity = match.lastgroup or ""
            if _verified(entity, match.group()):
                spans.append(Span(match.start(), match.end(), self.placeholders[entity]))
        return spans


def build(config: dict[str, Any]) -> PiiDetector:
    return PiiDetector(config)
