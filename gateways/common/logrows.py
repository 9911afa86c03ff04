"""Request-log rows to database parameters, cheaply, and the batch write (the request-log process's work).

One converter per column, chosen once per backend.

The batched writer shares the serving process (and its GIL) with the event loop, so every microsecond
it spends in Python per row is taken from requests. Django's `get_db_prep_save` costs ~50 µs a row
over 21 columns; most columns hold plain `str`/`int`/`float` values that our own code put there and
need no conversion at all. Only the typed columns (datetime, UUID, decimal, JSON) go through Django.
"""

from __future__ import annotations

import datetime
import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Any, TypedDict

from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone


class RequestLogRow(TypedDict, total=False):
    """One RequestLog row as the data plane writes it: the router fills the request's columns, the
    gateway's handler the rest through `GatewayRequest.log` (endpoint, model, tokens, cost, ...). A
    column left out takes the model's default."""

    time: datetime.datetime
    project_uuid: str  # ProjectInfo.uuid, as text
    gateway: str  # "ai" | "http" | "mcp" | "meta"
    endpoint: str
    method: str
    path: str
    token_prefix: str
    status: int
    latency_ms: float
    upstream_ms: float | None
    bytes_in: int
    bytes_out: int
    provider: str
    model: str
    tokens_in: int | None
    tokens_out: int | None
    cost: Decimal | None
    guardrails: dict[
        str, Any
    ]  # {"blocked": bool, "hits": [...], "notes": [...]}: gateways/guardrails/verdicts.py
    attempts: list[dict[str, Any]]  # one per provider or upstream attempt, in order
    error_code: str
    request_id: str


_PLAIN_NUMBERS = (models.IntegerField, models.FloatField)  # BigInteger, PositiveSmallInteger, ... too
_MISSING = object()


def text_safe(value: Any) -> Any:
    """PostgreSQL refuses NUL in text and jsonb; a client can put one in a path (`/%00`)."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, dict):
        return {text_safe(k): text_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [text_safe(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Column:
    name: str
    convert: Callable[[Any], Any]
    default: Any  # already converted


def _converter(
    field: models.Field[Any, Any], connection: BaseDatabaseWrapper, shared: dict[int, tuple[Any, str]]
) -> Callable[[Any], Any]:
    """The cheapest conversion that gives the same parameter as `field.get_db_prep_save`."""
    ops = connection.ops  # resolved once: `django.db.connection` is a proxy costing a lookup per use
    if isinstance(field, (models.CharField, models.TextField)):
        return text_safe
    if isinstance(field, models.DecimalField):
        digits, places = field.max_digits, field.decimal_places
        return lambda v: (
            None
            if v is None
            else ops.adapt_decimalfield_value(
                v if isinstance(v, Decimal) else Decimal(str(v)), digits, places
            )
        )
    if isinstance(field, _PLAIN_NUMBERS):
        return _plain
    if isinstance(field, models.DateTimeField):
        return lambda v: None if v is None else ops.adapt_datetimefield_value(v)
    if isinstance(field, models.UUIDField):  # rows carry a UUID or its text (ProjectInfo.uuid is str)
        if connection.features.has_native_uuid_field:
            return lambda v: None if v is None else str(v)
        return lambda v: None if v is None else (v if isinstance(v, uuid.UUID) else uuid.UUID(v)).hex
    if isinstance(field, models.JSONField):
        encoder = field.encoder
        dumps = partial(json.dumps, cls=encoder) if encoder else json.dumps

        def to_json(value: Any) -> Any:
            # The JSON text itself (what both backends' adapters send: COPY and INSERT take it as is).
            # A NUL in any string is escaped as \u0000 in it: only then is the value walked. A value
            # several rows of a batch share (a guardrail verdict's entry) is encoded once per batch.
            if value is None:
                return ops.adapt_json_value(value, encoder)
            seen = shared.get(id(value))
            if seen is not None and seen[0] is value:
                return seen[1]
            encoded = dumps(value)
            if "\\u0000" in encoded:
                encoded = dumps(text_safe(value))
            if isinstance(value, dict):
                if len(shared) >= SHARED_KEPT:
                    shared.clear()
                shared[id(value)] = (value, encoded)  # the value is kept: its id names it alone
            return encoded

        return to_json

    def through_django(value: Any) -> Any:  # a column type added later: correct first, fast if needed
        return field.get_db_prep_save(text_safe(value), connection)

    return through_django


SHARED_KEPT = 10_000  # shared JSON values remembered at most (a batch holds up to 500 rows)


class RowEncoder:
    """Turns row dicts into parameter lists in the model's column order for one database connection."""

    def __init__(self, model: type[models.Model], connection: BaseDatabaseWrapper) -> None:
        fields = [f for f in model._meta.concrete_fields if not f.primary_key]
        # JSON values the rows of one batch share, encoded once (let go after each batch).
        self.shared: dict[int, tuple[Any, str]] = {}
        self.columns = [
            Column(
                f.name,
                _converter(f, connection, self.shared),
                f.get_db_prep_save(f.get_default(), connection),
            )
            for f in fields
        ]
        self.column_names = [str(f.column) for f in fields]  # set on every concrete field

    def forget_shared(self) -> None:
        """After a batch: let go of the values its rows shared."""
        self.shared.clear()

    def encode(self, row: Mapping[str, Any]) -> list[Any]:
        get = row.get
        out = []
        for column in self.columns:
            value = get(column.name, _MISSING)
            out.append(column.default if value is _MISSING else column.convert(value))
        return out


def write_request_logs(
    rows: Sequence[RequestLogRow], batch_id: str | None = None, *, rollups: bool = True
) -> bool:
    """One batch of request-log rows and its rollups, in one transaction; False if `batch_id` was
    written before (a re-sent batch: nothing is written twice).

    Raw rows: COPY on PostgreSQL, multi-row INSERTs elsewhere. The writer may share the process (and
    its GIL) with the event loop: the cheaper each batch, the shorter the stalls it causes in request
    latency. No model instance is built per row, and COPY hands the rows to psycopg's C encoder.
    The rollups' deltas are summed before the transaction opens (audit/rollups.py), so it holds its
    locks for the statements only. `rollups=False` is for the writer benchmark only.
    """
    # Local: audit.rollups imports this module (a cycle), and the log writer child imports this module
    # before its django.setup(), when no model may load yet.
    from audit import rollups as rollup
    from audit.models import RequestLog, RequestLogBatch

    connection = connections[DEFAULT_DB_ALIAS]  # the wrapper itself, not the per-lookup proxy
    encoder = _encoders.get(connection.vendor)
    if encoder is None:
        encoder = _encoders[connection.vendor] = RowEncoder(RequestLog, connection)
    quote = connection.ops.quote_name
    table = quote(RequestLog._meta.db_table)
    columns = ", ".join(quote(c) for c in encoder.column_names)
    params: list[list[Any]] = []
    try:
        for start in range(0, len(rows), ENCODE_SLICE):
            params.extend(encoder.encode(row) for row in rows[start : start + ENCODE_SLICE])
            # Hand the GIL to the event loop between slices: many short stalls instead of one long one.
            # (A thread waiting for the GIL otherwise waits out the 5 ms switch interval.)
            time.sleep(0)
    finally:
        encoder.forget_shared()
    deltas = rollup.hourly_deltas(rows) if rollups else {}
    batches = quote(RequestLogBatch._meta.db_table)
    claim = (
        f"INSERT INTO {batches} ({quote('batch_id')}, {quote('written_at')}) VALUES (%s, %s) "  # noqa: S608
        f"ON CONFLICT ({quote('batch_id')}) DO NOTHING"
    )
    # Names come from the model's own metadata, quoted by the backend; values are parameters.
    # One transaction per batch: in autocommit, SQLite would commit (and write the WAL) once per row.
    with transaction.atomic(), connection.cursor() as cursor:
        # The batch's id first: a batch written before (its acknowledgement lost) stops here, and two
        # writers of one batch wait on the id's unique index for each other.
        cursor.execute(
            claim, [batch_id or str(uuid.uuid4()), connection.ops.adapt_datetimefield_value(timezone.now())]
        )
        if cursor.rowcount == 0:
            return False
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row_values in params:
                    copy.write_row(row_values)
        else:
            # Multi-row INSERTs, not executemany: sqlite3 releases and retakes the GIL around every
            # row's step, and while the event loop is busy each retake waits out the switch interval
            # (5 ms), so executemany of 500 rows could take seconds and the buffer overflowed.
            row_sql = "(" + ", ".join(["%s"] * len(encoder.column_names)) + ")"
            largest = rows_per_insert(max_params(connection) // len(encoder.column_names))
            start = 0
            for size in statement_sizes(len(params), largest):
                chunk = params[start : start + size]
                start += size
                values = ", ".join([row_sql] * size)
                flat = [value for row in chunk for value in row]
                cursor.execute(f"INSERT INTO {table} ({columns}) VALUES {values}", flat)  # noqa: S608
        if deltas:
            rollup.write_rollups(cursor, connection, deltas)
    return True


# Rows per multi-row INSERT at most. sqlite3 caches every distinct statement text it prepares (128 per
# connection), so the row counts of statements must come from a small fixed set: one statement per
# batch size filled the cache with up to 128 statements of ~10,000 parameters each: the request-log
# process grew from 40 to 63 MB within 400,000 chat requests, and after 1,000,000 a worker with its
# log process held 209 MB against 170 MB with this cap (bench/results/memory-s4*.md).
MAX_ROWS_PER_INSERT = 64


def rows_per_insert(fits: int) -> int:
    """The largest power of two of rows per statement, at most MAX_ROWS_PER_INSERT and what `fits`."""
    return 1 << (max(1, min(fits, MAX_ROWS_PER_INSERT)).bit_length() - 1)


def statement_sizes(rows: int, largest: int) -> list[int]:
    """Row counts of the INSERTs for `rows` rows, each the largest power of two that still fits, so
    only log2(largest) + 1 statement texts ever exist (1,000 rows, largest 64: 15x64, 32, 8)."""
    sizes = []
    size = largest
    while rows:
        while size > rows:
            size //= 2
        sizes.append(size)
        rows -= size
    return sizes


def max_params(connection: Any) -> int:
    """Bound parameters one statement may carry (SQLite's own limit, not Django's cautious 999)."""

    if connection.vendor == "postgresql":
        return 65_535  # the protocol's limit

    try:
        limit: int = connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        return min(limit, 10_000)
    except (AttributeError, sqlite3.Error):
        return connection.features.max_query_params or 999


_encoders: dict[str, RowEncoder] = {}  # per backend vendor; built on the first batch
ENCODE_SLICE = 50  # rows encoded between GIL hand-offs: ~0.4 ms of Python each
