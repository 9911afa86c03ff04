"""Backup and restore of PromptGate's own configuration, users and audit trail as one JSON file.

Encrypted fields travel as ciphertext (the file holds no plaintext secret), so a restore needs the
same PROMPTGATE_ENCRYPTION_KEYS. Token digests travel as they are: they are not plaintext.
"""

from __future__ import annotations

import datetime
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from django.apps import apps
from django.core import serializers
from django.core.management.color import no_style
from django.core.serializers.base import DeserializationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.utils import timezone

from audit.models import AuditLog
from audit.services import record
from audit.signals import AUDITED_APPS, ROLLUP_BOOKKEEPING
from credentials import crypto

FORMAT = "promptgate-backup"
VERSION = 1
CHUNK_SIZE = 500
# Models of other apps that belong in a backup: users and their groups, and the API clients of the
# management API (their secrets are stored hashed by django-oauth-toolkit).
EXTRA_MODELS = ("auth.group", "auth.user", "oauth2_provider.application")
# Traffic history (can be huge, and is not configuration) and runtime bookkeeping rows.
NOT_BACKED_UP = {
    "audit.requestlog",
    "common.configversion",
    # Webhook history (the outbox and its delivery log); the webhooks themselves are configuration.
    "webhooks.event",
    "webhooks.delivery",
    "webhooks.deliveryattempt",
    # Responses API conversation state (previous_response_id): minutes-to-hours TTL state holding
    # users' conversations, not configuration; restored it would be stale or already expired.
    "ai.storedresponse",
    *ROLLUP_BOOKKEEPING,
}


class BackupError(Exception):
    """The file is not a PromptGate backup, or cannot be restored here (see the message)."""


class DatabaseNotEmpty(BackupError):
    pass


class _Encoder(DjangoJSONEncoder):
    # DjangoJSONEncoder cuts datetimes to milliseconds; a backup must round-trip exactly.
    def default(self, o: Any) -> Any:
        if isinstance(o, datetime.datetime | datetime.time):
            return o.isoformat()
        return super().default(o)


def backup_models() -> list[type[models.Model]]:
    """The models a backup holds, ordered so every row comes after the rows it points to."""
    chosen = [
        model
        for model in apps.get_models()
        if not model._meta.proxy
        and not model._meta.auto_created
        and model._meta.label_lower not in NOT_BACKED_UP
        and (model._meta.app_label in AUDITED_APPS or model._meta.label_lower in EXTRA_MODELS)
    ]
    return _dependency_order(chosen)


def _dependency_order(chosen: list[type[models.Model]]) -> list[type[models.Model]]:
    chosen_set = set(chosen)
    deps = {
        model: {
            f.related_model
            for f in model._meta.get_fields()
            if (f.many_to_one or f.one_to_one or f.many_to_many)
            and f.concrete
            and f.related_model in chosen_set
            and f.related_model is not model
        }
        for model in chosen
    }
    ordered: list[type[models.Model]] = []
    pending = sorted(chosen, key=lambda m: m._meta.label_lower)
    while pending:
        ready = [m for m in pending if deps[m] <= set(ordered)]
        if not ready:  # a cycle: keep going; forward references are resolved after the first pass
            ready = pending[:1]
        ordered.extend(ready)
        pending = [m for m in pending if m not in ready]
    return ordered


def _encrypted_field_names(model: type[models.Model]) -> list[str]:
    return [f.name for f in model._meta.concrete_fields if getattr(f, "encrypted", False)]


def _records(model: type[models.Model]) -> Iterator[dict[str, Any]]:
    encrypted = _encrypted_field_names(model)
    queryset = model._base_manager.order_by("pk")
    chunk: list[models.Model] = []

    def flush() -> Iterator[dict[str, Any]]:
        for item in serializers.serialize("python", chunk, use_natural_foreign_keys=True):
            for name in encrypted:
                # The ORM handed us plaintext; the file gets ciphertext under the current key.
                if item["fields"].get(name):
                    item["fields"][name] = crypto.encrypt(item["fields"][name])
            yield item

    for obj in queryset.iterator(chunk_size=CHUNK_SIZE):
        chunk.append(obj)
        if len(chunk) >= CHUNK_SIZE:
            yield from flush()
            chunk = []
    if chunk:
        yield from flush()


def write_backup(stream: IO[str], using: str = DEFAULT_DB_ALIAS) -> dict[str, int]:
    """Stream every backed-up row to `stream` as one JSON document; returns row counts per model."""
    counts: dict[str, int] = {}
    connection = connections[using]
    with transaction.atomic(using=using):
        if connection.vendor == "postgresql":
            # One snapshot for the whole dump, so rows and the rows they point to agree.
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        models_ = backup_models()
        header = {
            "format": FORMAT,
            "version": VERSION,
            "created_at": timezone.now().isoformat(),
            "encrypted_fields": {
                m._meta.label_lower: names for m in models_ if (names := _encrypted_field_names(m))
            },
        }
        # Streamed row by row (audit tables grow large): the header object is left open for "objects".
        stream.write(json.dumps(header)[:-1] + ', "objects": [\n')
        first = True
        for model in models_:
            label = model._meta.label_lower
            counts[label] = 0
            for item in _records(model):
                stream.write(("" if first else ",\n") + json.dumps(item, cls=_Encoder))
                first = False
                counts[label] += 1
        stream.write("\n], " + json.dumps({"counts": counts})[1:] + "\n")
    return counts


def backup_to_file(path: str | Path) -> dict[str, int]:
    """Write the backup atomically (a temp file renamed into place), readable by its owner only."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            counts = write_backup(stream)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    # Written after the dump (so not inside the file): the trail says when each backup was taken.
    record(
        "backup",
        object_type="promptgate.backup",
        object_repr=path.name,
        extra={"file": path.name, "counts": counts},
    )
    return counts


def is_empty(using: str = DEFAULT_DB_ALIAS) -> bool:
    return not any(m._base_manager.using(using).exists() for m in backup_models())


def load_backup(stream: IO[str]) -> dict[str, Any]:
    try:
        data = json.load(stream)
    except json.JSONDecodeError as exc:
        raise BackupError(f"not a JSON file: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise BackupError("not a PromptGate backup file")
    if data.get("version") != VERSION:
        raise BackupError(f"unsupported backup version {data.get('version')!r} (expected {VERSION})")
    if not isinstance(data.get("objects"), list):
        raise BackupError("backup file has no objects list")
    return data


def _decrypted(objects: Iterable[dict[str, Any]], allowed: dict[str, type[models.Model]]) -> Iterator[dict]:
    for item in objects:
        label = str(item.get("model", "")).lower()
        if label not in allowed:
            # Never restore rows of models a backup does not hold (a crafted file could plant any).
            raise BackupError(f"backup holds rows of {label!r}, which a PromptGate backup never contains")
        for name in _encrypted_field_names(allowed[label]):
            value = item.get("fields", {}).get(name)
            if value:
                try:
                    item["fields"][name] = crypto.decrypt(value)
                except crypto.DecryptionError as exc:
                    raise BackupError(
                        f"{label} pk={item.get('pk')} {name}: cannot decrypt; restore needs the "
                        "PROMPTGATE_ENCRYPTION_KEYS the backup was made with"
                    ) from exc
        yield item


def restore(data: dict[str, Any], *, force: bool = False, source: str = "") -> dict[str, int]:
    """Load a backup in one transaction. Refuses a database holding data unless `force`.

    With `force`, rows with the same primary key are overwritten, except audit rows, which are
    append-only: an audit row already present is kept as it is.
    """
    allowed = {m._meta.label_lower: m for m in backup_models()}
    counts: dict[str, int] = {}
    with transaction.atomic():
        if not force and not is_empty():
            raise DatabaseNotEmpty(
                "the database already holds data; restore into an empty one or use --force"
            )
        deferred = []
        objects = serializers.deserialize(
            "python", _decrypted(data["objects"], allowed), handle_forward_references=True
        )
        try:
            for obj in objects:
                label = obj.object._meta.label_lower
                if label == "audit.auditlog" and AuditLog.objects.filter(pk=obj.object.pk).exists():
                    continue
                obj.save()  # a raw save: no signal writes an audit row per restored object
                if obj.deferred_fields:
                    deferred.append(obj)
                counts[label] = counts.get(label, 0) + 1
            for obj in deferred:
                obj.save_deferred_fields()
        except DeserializationError as exc:
            raise BackupError(f"cannot restore: {exc}") from exc
        _reset_sequences(list(allowed.values()))
        record(
            "restore",
            object_type="promptgate.backup",
            object_repr=source[:200],
            extra={"file": source, "counts": counts, "force": force},
        )
    return counts


def _reset_sequences(models_: list[type[models.Model]]) -> None:
    # Rows came with their primary keys: move PostgreSQL's sequences past them (SQLite needs nothing).
    connection = connections[DEFAULT_DB_ALIAS]
    statements = connection.ops.sequence_reset_sql(no_style(), models_)
    if statements:
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)


def restore_from_file(path: str | Path, *, force: bool = False) -> dict[str, int]:
    with open(path, encoding="utf-8") as stream:
        data = load_backup(stream)
    return restore(data, force=force, source=Path(path).name)
