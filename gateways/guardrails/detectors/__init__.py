"""The detector kinds, one module each: `validate(config)` at save, `build(config)` once per config version.

pii, secrets, regex, keywords   span detectors: find matches, so they can block, redact or warn
max_size, injection, json_schema payload detectors: judge the whole payload, so block or warn
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from gateways.guardrails.detectors import injection, json_schema, keywords, max_size, pii, regex, secrets
from gateways.guardrails.detectors.base import ConfigError, Detector, Payload, Span

KINDS: dict[str, ModuleType] = {
    "pii": pii,
    "secrets": secrets,
    "regex": regex,
    "keywords": keywords,
    "max_size": max_size,
    "injection": injection,
    "json_schema": json_schema,
}
REDACTABLE = frozenset({"pii", "secrets", "regex", "keywords"})

__all__ = ["KINDS", "REDACTABLE", "ConfigError", "Detector", "Payload", "Span", "build", "validate"]


def validate(kind: str, config: Any) -> dict[str, Any]:
    """The normalised config of a rule, or ConfigError saying what is wrong."""
    module = KINDS.get(kind)
    if module is None:
        raise ConfigError(f"unknown kind {kind!r}")
    return module.validate(config if config is not None else {})


def build(kind: str, config: dict[str, Any]) -> Detector:
    return KINDS[kind].build(config)
