"""Key rotation: re-encrypt every EncryptedTextField value under the newest key, in resumable batches."""

from __future__ import annotations

from collections.abc import Callable, Generator
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import connections, models, router, transaction

from audit import context
from audit.services import record
from credentials import crypto

DEFAULT_BATCH_SIZE = 500


@dataclass
class ModelCounts:
    rotated: int = 0
    current: int = 0
    empty: int = 0
    undecryptable: int = 0
    # Rows changed by someone else between our read and write: left as they are, since any new
    # write already uses the newest key.
    changed_meanwhile: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Unreadable:
    model: str
    pk: Any
    field: str


@dataclass
class RotationReport:
    dry_run: bool
    models: dict[str, ModelCounts] = field(default_factory=dict)
    unreadable: list[Unreadable] = field(default_factory=list)

    def total(self, name: str) -> int:
        return sum(getattr(c, name) for c in self.models.values())

    def as_extra(self) -> dict[str, Any]:
        """The audit row's extra: counts only (never a key, never a value)."""
        return {
            "dry_run": self.dry_run,
            "key_count": len(settings.PROMPTGATE_ENCRYPTION_KEYS),
            "models": {label: c.as_dict() for label, c in self.models.items()},
            "rotated": self.total("rotated"),
            "undecryptable": self.total("undecryptable"),
        }


def encrypted_fields() -> list[tuple[type[models.Model], list[models.Field]]]:
    """Every model with encrypted columns, found generically so a new secret field is never missed."""
    found = []
    for model in apps.get_models():
        if model._meta.proxy:
            continue  # its columns live in (and are rotated through) the concrete model
        # local_concrete_fields: under multi-table inheritance a parent's columns are in its own table.
        fields = [f for f in model._meta.local_concrete_fields if getattr(f, "encrypted", False)]
        if fields:
            found.append((model, fields))
    return found


def _column(field: models.Field) -> str:
    assert field.column, field  # the encrypted fields and the primary key are concrete columns
    return field.column


def _batches(
    model: type[models.Model], fields: list[models.Field], batch_size: int
) -> Generator[tuple[Any, list[tuple[Any, ...]]]]:
    """Yield (connection, rows) per batch of raw (pk, *ciphertexts), keyset-paginated by pk.

    Each batch is yielded from inside its transaction, so the caller's writes for that batch commit
    together (or roll back together if it raises): an interrupted run loses at most one batch.

    Raw SQL on purpose: a queryset (values_list included) runs from_db_value, which would hand us
    plaintext, or fail on a value no key decrypts.
    """
    connection = connections[router.db_for_write(model)]
    qn = connection.ops.quote_name
    pk_col = qn(_column(model._meta.pk))
    columns = ", ".join(qn(_column(f)) for f in fields)
    table = qn(model._meta.db_table)
    first = f"SELECT {pk_col}, {columns} FROM {table} ORDER BY {pk_col} LIMIT %s"  # noqa: S608
    after = f"SELECT {pk_col}, {columns} FROM {table} WHERE {pk_col} > %s ORDER BY {pk_col} LIMIT %s"  # noqa: S608
    last: Any = None
    while True:
        with transaction.atomic(using=connection.alias):
            with connection.cursor() as cursor:
                if last is None:
                    cursor.execute(first, [batch_size])
                else:
                    cursor.execute(after, [last, batch_size])
                rows = cursor.fetchall()
            if not rows:
                return
            yield connection, rows
        last = rows[-1][0]
        if len(rows) < batch_size:
            return


def rotate_model(
    model: type[models.Model], fields: list[models.Field], report: RotationReport, batch_size: int
) -> ModelCounts:
    label = model._meta.label_lower
    counts = report.models.setdefault(label, ModelCounts())
    # closing(): if this loop raises, the generator is closed at once, which rolls back the open batch
    # now rather than whenever the suspended generator happens to be collected.
    with closing(_batches(model, fields, batch_size)) as batches:
        for connection, rows in batches:
            _rotate_rows(model, fields, connection, rows, counts, report)
    return counts


def _rotate_rows(
    model: type[models.Model],
    fields: list[models.Field],
    connection: Any,
    rows: list[tuple[Any, ...]],
    counts: ModelCounts,
    report: RotationReport,
) -> None:
    label = model._meta.label_lower
    qn = connection.ops.quote_name
    for row in rows:
        pk = row[0]
        for f, value in zip(fields, row[1:], strict=True):
            if isinstance(value, bytes | memoryview):
                value = bytes(value).decode()
            if not value:
                counts.empty += 1
                continue
            if crypto.is_current(value):
                counts.current += 1
                continue
            try:
                new_value = crypto.rotate(value)
            except crypto.DecryptionError:
                counts.undecryptable += 1
                report.unreadable.append(Unreadable(label, pk, f.name))
                continue
            if report.dry_run:
                counts.rotated += 1
                continue
            # Compare-and-set: a concurrent save between our read and this write wins.
            sql = (
                f"UPDATE {qn(model._meta.db_table)} SET {qn(f.column)} = %s "  # noqa: S608
                f"WHERE {qn(model._meta.pk.column)} = %s AND {qn(f.column)} = %s"
            )
            with connection.cursor() as cursor:
                cursor.execute(sql, [new_value, pk, value])
                if cursor.rowcount == 1:
                    counts.rotated += 1
                else:
                    counts.changed_meanwhile += 1


def rotate_all(
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dry_run: bool = False,
    progress: Callable[[str, ModelCounts], None] | None = None,
) -> RotationReport:
    """Rotate every encrypted value; safe to interrupt and run again (current values are skipped).

    Values no configured key decrypts are left untouched and listed in the report. A real run writes
    one `key_rotation` audit row (actor system) with the counts; a dry run writes nothing.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    report = RotationReport(dry_run=dry_run)
    for model, fields in encrypted_fields():
        counts = rotate_model(model, fields, report, batch_size)
        if progress is not None:
            progress(model._meta.label_lower, counts)
    if not dry_run:
        record(
            "key_rotation",
            object_type="credentials.encryption_key",
            object_repr="encryption keys",
            extra=report.as_extra(),
            actor=context.SYSTEM,
        )
    return report
