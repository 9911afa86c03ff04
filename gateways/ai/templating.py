"""`{{ variable }}` substitution for AI endpoint prompts: one regex pass, declared names only, no evaluation.

Values are inserted verbatim in a single pass over the *template*, so a value holding `{{ other }}` or
any other template syntax stays literal text: user input is never parsed as template code, and nothing
is substituted twice. Placeholders naming undeclared variables are refused when the endpoint is saved.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]{0,63})\s*\}\}")
VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def placeholders(template: str) -> set[str]:
    """Names the template refers to."""
    return set(PLACEHOLDER.findall(template or ""))


def as_text(value: Any) -> str:
    """A variable's value as prompt text: strings as they are, everything else as JSON."""
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def render(template: str, values: Mapping[str, Any]) -> str:
    """Substitute declared names; unknown placeholders stay as written (they cannot be saved anyway)."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            return match.group(0)
        return as_text(values[name])

    return PLACEHOLDER.sub(replace, template or "")
