"""Output schemas of AI endpoints: native structured output where the provider has it, else instructions;
parsing and validation of the answer (jsonschema), and the one repair prompt an invalid answer gets."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

# Adapters that turn OpenAI's response_format json_schema into the provider's own mechanism
# (OpenAI/Azure natively, Anthropic a forced tool, Gemini responseSchema).
NATIVE = frozenset({"openai", "azure", "anthropic", "gemini"})
MAX_ERRORS = 20
_FENCE = re.compile(r"^\s*```(?:json)?\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)


def instructions(schema: Mapping[str, Any]) -> str:
    return (
        "Answer with a single JSON value and nothing else (no prose, no code fences). "
        f"It must validate against this JSON Schema: {orjson.dumps(schema).decode()}"
    )


def apply(body: dict[str, Any], provider: str, schema: Mapping[str, Any]) -> dict[str, Any]:
    """The chat body for one provider: native response_format, or the instructions in the system prompt."""
    if provider in NATIVE:
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": dict(schema)},
        }
        return body
    messages = [dict(m) for m in body["messages"]]
    if messages and messages[0].get("role") == "system":
        messages[0]["content"] = f"{messages[0]['content']}\n\n{instructions(schema)}".strip()
    else:
        messages.insert(0, {"role": "system", "content": instructions(schema)})
    body["messages"] = messages
    return body


@dataclass(frozen=True, slots=True)
class Checked:
    ok: bool
    parsed: Any = None
    errors: tuple[str, ...] = ()


def check(output: str, schema: Mapping[str, Any]) -> Checked:
    """Parse the answer as JSON (code fences tolerated) and validate it against the schema."""
    import jsonschema  # local: ~100 ms to import, needed only when a schema is used

    text = output.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return Checked(False, None, (f"The answer is not valid JSON: {exc}",))
    validator = jsonschema.Draft202012Validator(dict(schema))
    errors = sorted(validator.iter_errors(parsed), key=lambda e: list(e.absolute_path))
    if not errors:
        return Checked(True, parsed)
    return Checked(False, parsed, tuple(_describe(e) for e in errors[:MAX_ERRORS]))


def _describe(error: Any) -> str:
    path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    return f"{path}: {error.message}"[:500]


def repair_messages(
    messages: list[dict[str, Any]], output: str, checked: Checked, schema: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The conversation asking once more, with what was wrong with the first answer."""
    problems = "\n".join(f"- {e}" for e in checked.errors)
    return [
        *messages,
        {"role": "assistant", "content": output},
        {
            "role": "user",
            "content": f"Your answer does not match the required JSON schema:\n{problems}\n\n"
            f"{instructions(schema)}",
        },
    ]
