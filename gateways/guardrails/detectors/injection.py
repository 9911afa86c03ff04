"""`injection`: heuristics for prompt-injection phrasing, each with a weight; a payload whose summed score
reaches the threshold (default 0.8) is a hit, counted as the number of heuristics that matched.

The heuristics (documented in the README): instructions to ignore or forget earlier instructions,
requests to reveal the system prompt, role-play jailbreaks (DAN, developer mode), fake chat-template
tokens, and "new instructions" framing. Phrases like "act as" alone stay well under the threshold.
"""

from __future__ import annotations

import re
from typing import Any

from gateways.guardrails.detectors.base import ConfigError, Payload, PayloadDetector, check_keys

_ANY = r"(?:\w+\s+){0,3}"
HEURISTICS: tuple[tuple[str, str, float], ...] = (
    (
        "ignore_previous",
        rf"\b(?:ignore|disregard|forget|override|bypass)\s+{_ANY}(?:previous|prior|above|earlier|preceding|your|the|system)\s+{_ANY}(?:instructions?|prompts?|rules?|directions?|guidelines?)\b",
        0.9,
    ),
    (
        "reveal_system_prompt",
        rf"\b(?:reveal|show|print|repeat|output|display|leak|tell me)\s+{_ANY}(?:system\s+prompt|hidden\s+instructions?|initial\s+instructions?)\b",
        0.8,
    ),
    (
        "jailbreak_persona",
        r"\b(?:DAN|do anything now|developer mode|jailbreak(?:ed)?|unfiltered mode)\b",
        0.6,
    ),
    ("template_tokens", r"<\|?(?:im_start|im_end|system|endoftext)\|?>|\[/?INST\]|<<SYS>>", 0.6),
    ("new_instructions", r"\b(?:new|updated|real)\s+instructions?\s*:", 0.5),
    ("you_are_now", r"\byou\s+are\s+now\s+(?:a|an|the|in)\b", 0.4),
    (
        "no_restrictions",
        r"\b(?:without|no)\s+(?:any\s+)?(?:restrictions|limitations|filters|censorship)\b",
        0.3,
    ),
    ("pretend", r"\b(?:pretend|act)\s+(?:to\s+be|you\s+are|as\s+if)\b", 0.2),
)
_COMPILED = tuple((name, re.compile(pattern, re.IGNORECASE), weight) for name, pattern, weight in HEURISTICS)


def validate(config: Any) -> dict[str, Any]:
    config = check_keys(config, {"threshold"})
    threshold = config.get("threshold", 0.8)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 < threshold <= 5:
        raise ConfigError("threshold must be a number above 0 and at most 5")
    return {"threshold": float(threshold)}


def score(text: str) -> tuple[float, int]:
    total, matched = 0.0, 0
    for _name, pattern, weight in _COMPILED:
        if pattern.search(text):
            total += weight
            matched += 1
    return total, matched


class InjectionDetector(PayloadDetector):
    def __init__(self, config: dict[str, Any]) -> None:
        self.threshold = config["threshold"]

    def count(self, payload: Payload) -> int:
        total, matched = score("\n".join(payload.texts))
        return matched if total >= self.threshold else 0


def build(config: dict[str, Any]) -> InjectionDetector:
    return InjectionDetector(config)
