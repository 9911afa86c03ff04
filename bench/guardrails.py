"""The guardrails scenario's parts: the default rule set (pii + secrets + 10 regex + 500 keywords, on
input and output) seeded on its own project, and chat prompts of 1 KB and 32 KB that hold a few real
matches (an e-mail address and a phone number: the redaction path runs, not just the scan)."""

from __future__ import annotations

import json
from typing import Any

SIZES = {"1k": 1024, "32k": 32 * 1024}
REGEX = [
    r"\bTICKET-\d{6}\b",
    r"\bINV-\d{4}-\d{5}\b",
    r"\bEMP\d{7}\b",
    r"\bACCT[-_]?\d{10}\b",
    r"\b[A-Z]{2}\d{2}[A-Z]{3}\d{4}\b",
    r"\bproject-(?:atlas|borealis|cirrus)\b",
    r"\bpassword\s*[:=]\s*\S{4,64}",
    r"\bcase\s+#\d{5,8}\b",
    r"\b(?:CONFIDENTIAL|INTERNAL ONLY)\b",
    r"\b\d{3}\.\d{3}\.\d{3}-\d{2}\b",
]
KEYWORDS = [f"forbidden{i:03d}" for i in range(490)] + [
    "codename falcon",
    "blue harvest",
    "operation nightfall",
    "project zeta",
    "red ledger",
    "silent partner",
    "iron gate",
    "cold vault",
    "night owl",
    "glass tower",
]
FILLER = (
    "The quarterly report covers revenue, churn and the new onboarding flow; please summarise the main "
    "risks and the next steps for the support team in plain words. "
)


def rules() -> list[dict[str, Any]]:
    return [
        {"name": "pii", "kind": "pii", "action": "redact", "stage": "both"},
        {"name": "secrets", "kind": "secrets", "action": "block", "stage": "both"},
        {"name": "ids", "kind": "regex", "action": "redact", "stage": "both", "config": {"patterns": REGEX}},
        {
            "name": "denylist",
            "kind": "keywords",
            "action": "block",
            "stage": "both",
            "config": {"words": KEYWORDS},
        },
    ]


def engine(without: str = "") -> Any:
    """The default rule set compiled as a project's engine (its rules of kind `without` left out)."""
    # Imported here: the bench sets Django up at run time, before the project's modules load.
    from gateways.guardrails import detectors
    from gateways.guardrails.engine import Engine
    from gateways.guardrails.resolution import EffectiveRule

    return Engine(
        [
            EffectiveRule(
                r["name"],
                r["kind"],
                r["stage"],
                r["action"],
                detectors.validate(r["kind"], r.get("config") or {}),
                True,
                False,
                "",
                "project",
            )
            for r in rules()
            if r["kind"] != without
        ]
    )


def install(project: Any) -> None:
    """Save the default rule set as project rules (validated as the API would)."""
    # Imported here: the bench sets Django up at run time, before the project's modules load.
    from gateways.guardrails.models import GuardrailRule
    from gateways.guardrails.services import save_rule

    for fields in rules():
        save_rule(GuardrailRule(project=project), fields)


def prompt(size: int) -> str:
    """`size` bytes of prose that name one e-mail address and one phone number."""
    head = "Customer jane.doe@example.com (+1 415 555 0134) writes: "
    return (head + FILLER * (size // len(FILLER) + 1))[:size]


def chat_body(model: str, size_name: str) -> bytes:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": prompt(SIZES[size_name])}],
        "max_tokens": 64,
    }
    return json.dumps(body).encode()
