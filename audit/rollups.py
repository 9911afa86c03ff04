"""Rollups of the request log: sums per hour (and day) written in the same transaction as the raw rows.

The request-log writer turns each batch into deltas, one per hour and dimensions key (project, gateway,
endpoint, token prefix, provider, model, status class), and adds them with one multi-row
`INSERT … ON CONFLICT (key) DO UPDATE SET n = n + excluded.n` per table, on SQLite and PostgreSQL
alike. Adding, never replacing, is what lets any number of writer processes on any number of hosts
write the same keys; the keys go in sorted order, so two PostgreSQL writers lock rows in one order
and cannot deadlock. The daily rows are the batch's hourly deltas summed per UTC day: derived from
the hourly ones, in the same transaction, so the two tables always agree.

Latency is kept as a histogram with fixed buckets (`LATENCY_BUCKETS_MS`); `percentile` reads p50,
p95, p99 from it by interpolating inside the bucket that holds the rank, so the estimate lies in the
bucket of the exact value.
"""

from __future__ import annotations

import bisect
import datetime
import uuid
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper

from audit.models import (
    LATENCY_BUCKETS_MS,
    LATENCY_COLUMNS,
    ROLLUP_DIMENSIONS,
    ROLLUP_SUMS,
    DailyRollup,
    HourlyRollup,
)

NANOS = Decimal(1_000_000_000)
# Per key: requests, errors, bytes_in, bytes_out, tokens_in, tokens_out, cost_nanos, latency_ms_sum,
# then one count per latency bucket (the order of ROLLUP_SUMS).
_SCALARS = 8
_BOUNDS = LATENCY_BUCKETS_MS[:-1]  # the last bucket takes everything above the one before it
Key = tuple[Any, ...]  # (hour or day, *ROLLUP_DIMENSIONS values)


def bucket_of(latency_ms: float) -> int:
    """Index of the bucket that holds `latency_ms` (upper bounds inclusive)."""
    return bisect.bisect_left(_BOUNDS, latency_ms)


def _nanos(cost: Any) -> int:
    if cost is None:
        return 0
    value = cost if isinstance(cost, Decimal) else Decimal(str(cost))
    return int((value * NANOS).to_integral_value())


def hourly_deltas(rows: Iterable[Mapping[str, Any]]) -> dict[Key, list[Any]]:
    """The sums a batch of request-log rows adds, per hour and dimensions."""
    out: dict[Key, list[Any]] = {}
    uuids: dict[Any, str] = {}  # a batch holds a few projects: canonical text once per distinct value
    utc = datetime.UTC
    width = len(ROLLUP_SUMS)
    for row in rows:
        at: datetime.datetime = row["time"]
        if at.tzinfo is not utc:
            at = at.astimezone(utc) if at.tzinfo is not None else at.replace(tzinfo=utc)
        project = row["project_uuid"]
        text = uuids.get(project)
        if text is None:
            text = uuids[project] = str(project if isinstance(project, uuid.UUID) else uuid.UUID(project))
        status = row["status"]
        key = (
            at.replace(minute=0, second=0, microsecond=0),
            text,
            row["gateway"],
            row.get("endpoint") or "",
            row.get("token_prefix") or "",
            row.get("provider") or "",
            row.get("model") or "",
            status // 100,
        )
        sums = out.get(key)
        if sums is None:
            sums = out[key] = [0] * width
            sums[7] = 0.0
        latency = row.get("latency_ms") or 0.0
        sums[0] += 1
        sums[1] += status >= 400
        sums[2] += row.get("bytes_in") or 0
        sums[3] += row.get("bytes_out") or 0
        sums[4] += row.get("tokens_in") or 0
        sums[5] += row.get("tokens_out") or 0
        sums[6] += _nanos(row.get("cost"))
        sums[7] += latency
        sums[_SCALARS + bucket_of(latency)] += 1
    return out


def daily_from_hourly(hourly: Mapping[Key, Sequence[Any]]) -> dict[Key, list[Any]]:
    """The same sums per UTC day: the daily rollup is derived from the hourly one."""
    out: dict[Key, list[Any]] = {}
    for (hour, *dimensions), sums in hourly.items():
        key = (hour.date(), *dimensions)
        total = out.get(key)
        if total is None:
            out[key] = list(sums)
        else:
            for i, value in enumerate(sums):
                total[i] += value
    return out


def upsert(
    cursor: Any,
    connection: BaseDatabaseWrapper,
    model: type[HourlyRollup] | type[DailyRollup],
    deltas: Mapping[Key, Sequence[Any]],
) -> None:
    """Add `deltas` to `model`'s rows, creating the missing ones, in sorted key order."""
    from gateways.common.logrows import max_params, rows_per_insert, statement_sizes

    if not deltas:
        return
    period = "hour" if model is HourlyRollup else "day"
    encoder = _encoder(model, connection)
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = encoder.column_names
    names = [period, *ROLLUP_DIMENSIONS]
    target = ", ".join(quote(model._meta.get_field(n).column) for n in names)
    updates = ", ".join(f"{quote(c)} = {table}.{quote(c)} + excluded.{quote(c)}" for c in ROLLUP_SUMS)
    params = [
        encoder.encode({**dict(zip(names, key, strict=True)), **dict(zip(ROLLUP_SUMS, sums, strict=True))})
        for key, sums in sorted(deltas.items(), key=lambda item: _sort_key(item[0]))
    ]
    row_sql = "(" + ", ".join(["%s"] * len(columns)) + ")"
    head = f"INSERT INTO {table} ({', '.join(quote(c) for c in columns)}) VALUES "  # noqa: S608
    tail = f" ON CONFLICT ({target}) DO UPDATE SET {updates}"
    start = 0
    for size in statement_sizes(len(params), rows_per_insert(max_params(connection) // len(columns))):
        chunk = params[start : start + size]
        start += size
        cursor.execute(head + ", ".join([row_sql] * size) + tail, [v for row in chunk for v in row])


def _sort_key(key: Key) -> tuple[Any, ...]:
    return (key[0].isoformat(), *key[1:])


_encoders: dict[tuple[str, str], Any] = {}


def _encoder(model: type[models.Model], connection: BaseDatabaseWrapper) -> Any:
    from gateways.common.logrows import RowEncoder

    slot = (connection.vendor, model._meta.label)
    encoder = _encoders.get(slot)
    if encoder is None:
        encoder = _encoders[slot] = RowEncoder(model, connection)
    return encoder


def write_rollups(cursor: Any, connection: BaseDatabaseWrapper, hourly: Mapping[Key, Sequence[Any]]) -> None:
    """Both rollups of one batch (inside the batch's transaction)."""
    upsert(cursor, connection, HourlyRollup, hourly)
    upsert(cursor, connection, DailyRollup, daily_from_hourly(hourly))


# --- reading -----------------------------------------------------------------------------------
def histogram_of(row: Mapping[str, Any]) -> list[int]:
    return [int(row.get(column) or 0) for column in LATENCY_COLUMNS]


def percentile(histogram: Sequence[int], q: float) -> float | None:
    """The q-quantile (0 < q ≤ 1) of the latencies counted in `histogram`, or None when it is empty.

    Linear inside the bucket that holds the rank: the estimate is within that bucket's bounds, which
    hold the exact value. The open-ended last bucket answers its lower bound.
    """
    total = sum(histogram)
    if not total:
        return None
    rank = q * total
    seen = 0
    for i, count in enumerate(histogram):
        if count and seen + count >= rank:
            lower = 0.0 if i == 0 else float(LATENCY_BUCKETS_MS[i - 1])
            upper = float(LATENCY_BUCKETS_MS[i])
            if upper == float("inf"):
                return lower
            return round(lower + (upper - lower) * max(rank - seen, 0) / count, 3)
        seen += count
    return float(LATENCY_BUCKETS_MS[-2])


def latency_summary(row: Mapping[str, Any]) -> dict[str, float | None]:
    """Mean and p50/p95/p99 (ms) of a rollup row or of a sum of rollup rows."""
    histogram = histogram_of(row)
    requests = int(row.get("requests") or 0)
    return {
        "latency_ms_avg": round(float(row.get("latency_ms_sum") or 0) / requests, 3) if requests else None,
        "latency_ms_p50": percentile(histogram, 0.50),
        "latency_ms_p95": percentile(histogram, 0.95),
        "latency_ms_p99": percentile(histogram, 0.99),
    }
