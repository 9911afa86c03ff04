"""JSON snapshots of model instances for the audit trail, with every secret masked."""

from __future__ import annotations

import datetime
import decimal
import uuid
from typing import Any

from django.db import models

MASK = "********"
CHANGED_MASK = "******** (changed)"
# Field names that hold secrets on models we do not own (auth.User, oauth2_provider).
ALWAYS_SECRET = {"password", "client_secret", "token", "digest", "refresh_token", "access_token"}
# Fields whose change alone is bookkeeping, not a state change worth a row.
IGNORED_FIELDS = {"last_login", "updated_at", "last_used_at", "request_count"}


def is_secret_field(model: type[models.Model], field: models.Field) -> bool:
    return (
        getattr(field, "encrypted", False)
        or field.name in getattr(model, "SECRET_FIELDS", ())
        or field.name in ALWAYS_SECRET
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID | decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return MASK
    return value


def snapshot(instance: models.Model) -> dict[str, Any]:
    model = type(instance)
    data: dict[str, Any] = {}
    for field in model._meta.concrete_fields:
        value = getattr(instance, field.attname)
        if is_secret_field(model, field):
            data[field.name] = MASK if value else ""
        else:
            data[field.name] = _jsonable(value)
    return data


def changed_secrets(old: models.Model, new: models.Model) -> set[str]:
    """Names of secret fields whose plaintext differs between two versions of a row (never the values)."""
    model = type(new)
    return {
        field.name
        for field in model._meta.concrete_fields
        if is_secret_field(model, field) and getattr(old, field.attname) != getattr(new, field.attname)
    }


def diff(
    before: dict[str, Any], after: dict[str, Any], secrets_changed: set[str] | frozenset[str] = frozenset()
) -> tuple[dict[str, Any], dict[str, Any]]:
    changed = [
        k for k in after if (before.get(k) != after[k] or k in secrets_changed) and k not in IGNORED_FIELDS
    ]
    after_values = {k: CHANGED_MASK if k in secrets_changed and after[k] else after[k] for k in changed}
    return {k: before.get(k) for k in changed}, after_values
