"""Marks a model instance carries through its save for the audit signals (audit/signals.py).

A service that changes a row for a named reason (`activate`, `token_revoke`, ...) marks the instance
before saving it, so the audit row says that instead of a bare `update`; the pre-save signal leaves
the old snapshot on the instance for the post-save one. Models declare none of these attributes:
they are set and read here, by name, so the rest of the code stays typed.
"""

from __future__ import annotations

from typing import Any

from django.db import models

_ACTION = "_audit_action"
_BEFORE = "_audit_before"
_SECRETS_CHANGED = "_audit_secrets_changed"


def mark_action(instance: models.Model, action: str) -> None:
    """Record the next save of `instance` under `action` instead of create/update."""
    setattr(instance, _ACTION, action)


def take_action(instance: models.Model) -> str | None:
    """The action marked for this save, cleared so a later save is not recorded under it again."""
    action: str | None = getattr(instance, _ACTION, None)
    setattr(instance, _ACTION, None)
    return action


def set_before(instance: models.Model, before: dict[str, Any] | None, secrets_changed: set[str]) -> None:
    setattr(instance, _BEFORE, before)
    setattr(instance, _SECRETS_CHANGED, secrets_changed)


def before_of(instance: models.Model) -> tuple[dict[str, Any] | None, set[str]]:
    """The pre-save snapshot and the names of the secrets that changed (None: no snapshot taken)."""
    return getattr(instance, _BEFORE, None), getattr(instance, _SECRETS_CHANGED, set())
