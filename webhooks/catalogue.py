"""The event catalogue: every event type PromptGate sends, with one example `data` each (README's source)."""

from __future__ import annotations

from typing import Any

from projects.project_types import ProjectType

_PROJECT = {
    "uuid": "5f0c6c1e-8f51-4d6b-9a57-0d6b1f3c2a10",
    "name": "Demo API",
    "slug": "demo-api",
    "project_type": ProjectType.API_GATEWAY.value,
    "env": "prod",
    "is_active": True,
}
_TOKEN = {
    "id": 42,
    "name": "ci",
    "prefix": "pg_live_3kF9",
    "scopes": ["proxy"],
    "expires_at": "2027-01-01T00:00:00+00:00",
    "project": {"uuid": _PROJECT["uuid"], "name": _PROJECT["name"]},
}

EXAMPLES: dict[str, dict[str, Any]] = {
    "project.created": {"project": _PROJECT},
    "project.updated": {"project": _PROJECT, "changed": ["description"]},
    "project.activated": {"project": _PROJECT},
    "project.deactivated": {"project": {**_PROJECT, "is_active": False}},
    "project.deleted": {"project": _PROJECT},
    "token.created": {"token": _TOKEN},
    "token.revoked": {"token": {**_TOKEN, "revoked_at": "2026-12-02T10:00:00+00:00"}},
    "token.expiring": {"token": _TOKEN, "days_left": 7},
    "budget.threshold_crossed": {
        "project": {"uuid": _PROJECT["uuid"], "name": _PROJECT["name"]},
        "scope": "project",
        "subject": "p12",
        "period": "daily",
        "window": "2026-12-02",
        "threshold_percent": 80,
        "limit_usd": "10.00",
        "spent_usd": "8.02",
    },
    "budget.exhausted": {
        "project": {"uuid": _PROJECT["uuid"], "name": _PROJECT["name"]},
        "scope": "token",
        "subject": "t42",
        "period": "monthly",
        "window": "2026-12",
        "limit_usd": "100.00",
        "spent_usd": "100.13",
    },
    "guardrail.blocked": {
        "project": {"uuid": _PROJECT["uuid"], "name": _PROJECT["name"]},
        "rule": "no-secrets",
        "level": "project",
        "stage": "input",
        "count": 3,
        "window_start": "2026-12-02T10:00:00+00:00",
    },
    "upstream.down": {
        "project": {"uuid": _PROJECT["uuid"], "name": _PROJECT["name"]},
        "kind": "mcp_server",
        "name": "github",
        "id": 7,
        "error": "could not connect to upstream",
    },
    "upstream.recovered": {
        "project": {"uuid": _PROJECT["uuid"], "name": _PROJECT["name"]},
        "kind": "mcp_server",
        "name": "github",
        "id": 7,
    },
    "webhook.disabled": {
        "webhook": {"id": 3, "description": "ops"},
        "reason": "every attempt failed for 3 days",
        "project": {"uuid": _PROJECT["uuid"], "name": _PROJECT["name"]},
    },
    "webhook.test": {"webhook": {"id": 3}, "message": "PromptGate test event"},
}

EVENT_TYPES: tuple[str, ...] = tuple(EXAMPLES)
