"""Rollups of the request log: sums per hour (and day) written in the same transaction as the raw rows.

The request-log writer turns each batch into deltas, one per hour and dimensions key (project, gateway,
endpoint, token prefix, provider, model, status class), and adds them with one multi-row
`INSERT … ON CONFLICT (key) DO UPDATE SET n = n + excluded.n` per table, on SQLite and PostgreSQL
alike. Adding, never replacing, is what lets any number of writer processes on any number of hosts
write the same keys; the keys go in sorted order, so two PostgreSQL writers lock rows in one order
and cannot deadlock. The daily rows are derived from the hourly ones once a UTC day is over (and
DERIVE_GRACE has passed, for batches still in flight): `derive_daily` replaces a day's daily rows with
the sums of its hourly rows, in one transaction, and moves `RollupProgress` past it. Readers take the
days before that mark from DailyRollup and the later ones from HourlyRollup (gateways/ai/usage.py).
Deriving, not writing both per batch, halves the writer's upserts (bench/writer_throughput.py).

Three coarser levels come with each derived day, in the same transaction: ProjectDailyRollup (the day's
daily rows summed per project and gateway), ProjectMonthlyRollup (the month's project-day rows summed
again) and ModelDailyRollup (the day's daily rows summed per gateway, provider and model over every
project). A year per project is then 12 rows, a year per day ~365 per project, a year of one model
~365 rows: the usage report picks the coarsest level that answers its question
(gateways/ai/usage_levels.py). All are replaced, not
added to (`INSERT … SELECT … GROUP BY … ON CONFLICT DO UPDATE SET n = excluded.n`), so deriving a day
again, or two processes deriving it at once, leaves the same rows.

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

from django.db import connection, models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from audit.models import (
    COARSE_DIMENSIONS,
    LATENCY_BUCKETS_MS,
    LATENCY_COLUMNS,
    MODEL_DIMENSIONS,
    ROLLUP_DIMENSIONS,
    ROLLUP_SUMS,
    DailyRollup,
    HourlyRollup,
    ModelDailyRollup,
    ProjectDailyRollup,
    ProjectMonthlyRollup,
    RollupProgress,
)
from gateways.common.logrows import max_params, rows_per_insert, statement_sizes

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


def upsert(
    cursor: Any,
    connection: BaseDatabaseWrapper,
    model: type[HourlyRollup] | type[DailyRollup],
    deltas: Mapping[Key, Sequence[Any]],
) -> None:
    """Add `deltas` to `model`'s rows, creating the missing ones, in sorted key order."""

    if not deltas:
        return
    period = "hour" if model is HourlyRollup else "day"
    ops = connection.ops
    quote = ops.quote_name
    table = quote(model._meta.db_table)
    names = [period, *ROLLUP_DIMENSIONS]
    columns = [_column(model, n) for n in (*names, *ROLLUP_SUMS)]
    target = ", ".join(quote(_column(model, n)) for n in names)
    updates = ", ".join(f"{quote(c)} = {table}.{quote(c)} + excluded.{quote(c)}" for c in ROLLUP_SUMS)
    ordered = sorted(deltas.items(), key=lambda item: _sort_key(item[0]))
    tail = f" ON CONFLICT ({target}) DO UPDATE SET {updates}"
    head = f"INSERT INTO {table} ({', '.join(quote(c) for c in columns)}) "
    if connection.vendor == "postgresql":
        # One statement of one array per column: a multi-row VALUES of thousands of parameters costs
        # ~5x more (Django binds them client-side, one by one; measured 3.4 s against 0.75 s for the
        # rollups of 10,000 rows in bench/writer_throughput.py conditions).
        casts = [
            _PG_TYPES.get(name, "text" if name in ROLLUP_DIMENSIONS else "int8")
            for name in (*names, *ROLLUP_SUMS)
        ]
        casts[0] = "timestamptz" if period == "hour" else "date"
        arrays = ", ".join(f"%s::{cast}[]" for cast in casts)
        rows = [[at, *rest, *sums] for (at, *rest), sums in ordered]
        statement = f"{head}SELECT * FROM unnest({arrays}){tail}"  # noqa: S608 (names from the model)
        cursor.execute(statement, [list(col) for col in zip(*rows, strict=True)])
        return
    # SQLite: multi-row VALUES in a few fixed sizes (logrows.py says why); only the period and the
    # project need adapting, the rest are our own str and int values.
    adapt_period = ops.adapt_datetimefield_value if period == "hour" else ops.adapt_datefield_value
    params = [
        [adapt_period(at), project.replace("-", ""), *dimensions, *sums]
        for (at, project, *dimensions), sums in ordered
    ]
    row_sql = "(" + ", ".join(["%s"] * len(columns)) + ")"
    start = 0
    for size in statement_sizes(len(params), rows_per_insert(max_params(connection) // len(columns))):
        chunk = params[start : start + size]
        start += size
        cursor.execute(
            head + "VALUES " + ", ".join([row_sql] * size) + tail, [v for row in chunk for v in row]
        )


_PG_TYPES = {"project_uuid": "uuid", "status_class": "int2", "latency_ms_sum": "float8"}


def _column(model: type[HourlyRollup] | type[DailyRollup], name: str) -> str:
    field = model._meta.get_field(name)
    assert isinstance(field, models.Field) and field.column, name  # every rollup name is a concrete column
    return field.column


def _sort_key(key: Key) -> tuple[Any, ...]:
    return (key[0].isoformat(), *key[1:])


def write_rollups(cursor: Any, connection: BaseDatabaseWrapper, hourly: Mapping[Key, Sequence[Any]]) -> None:
    """The hourly rollup of one batch (inside the batch's transaction)."""
    upsert(cursor, connection, HourlyRollup, hourly)


# --- the daily rollup, derived ------------------------------------------------------------------
DERIVE_GRACE = datetime.timedelta(hours=1)  # a day is derived this long after it ended
PROGRESS = "daily"
CoarseLevel = type[ProjectDailyRollup] | type[ProjectMonthlyRollup] | type[ModelDailyRollup]
COARSE_KEYS: dict[CoarseLevel, tuple[str, ...]] = {
    ProjectDailyRollup: COARSE_DIMENSIONS,
    ProjectMonthlyRollup: COARSE_DIMENSIONS,
    ModelDailyRollup: MODEL_DIMENSIONS,
}


def derived_until() -> datetime.date | None:
    """Days before this one are in DailyRollup (None: none derived yet)."""
    row = RollupProgress.objects.filter(name=PROGRESS).first()
    return row.derived_until if row is not None else None


def days_to_derive(now: datetime.datetime) -> list[datetime.date]:
    """The finished days whose daily rows are not derived yet, oldest first."""
    last = (now - DERIVE_GRACE).astimezone(datetime.UTC).date()  # days before this one are over
    first = derived_until()
    if first is None:
        oldest = HourlyRollup.objects.order_by("hour").values_list("hour", flat=True).first()
        if oldest is None:
            return []
        first = oldest.astimezone(datetime.UTC).date()
    return [first + datetime.timedelta(days=n) for n in range((last - first).days)]


def derive_daily(day: datetime.date, *, advance: bool = True) -> int:
    """Replace `day`'s daily rows with the sums of its hourly rows; returns the rows written.
    `advance`: mark the days up to this one derived (a rebuild of an old day leaves the mark alone)."""

    quote = connection.ops.quote_name
    daily, hourly = quote(DailyRollup._meta.db_table), quote(HourlyRollup._meta.db_table)
    dimensions = ", ".join(quote(n) for n in ROLLUP_DIMENSIONS)
    sums = ", ".join(f"SUM({quote(n)})" for n in ROLLUP_SUMS)
    columns = ", ".join(quote(n) for n in ("day", *ROLLUP_DIMENSIONS, *ROLLUP_SUMS))
    day_param = "%s::date" if connection.vendor == "postgresql" else "%s"
    start = datetime.datetime.combine(day, datetime.time.min, datetime.UTC)
    adapt = connection.ops.adapt_datetimefield_value
    with transaction.atomic(), connection.cursor() as cursor:
        DailyRollup.objects.filter(day=day)._raw_delete(connection.alias)
        cursor.execute(
            f"INSERT INTO {daily} ({columns}) SELECT {day_param}, {dimensions}, {sums} FROM {hourly} "  # noqa: S608
            f"WHERE {quote('hour')} >= %s AND {quote('hour')} < %s GROUP BY {dimensions}",
            [
                connection.ops.adapt_datefield_value(day),
                adapt(start),
                adapt(start + datetime.timedelta(days=1)),
            ],
        )
        written = cursor.rowcount
        # The coarse levels of the day, then its month again from its project-day rows (this day's too).
        _replace_coarse(cursor, ProjectDailyRollup, "day", DailyRollup, "day", day, day, day, None)
        _replace_coarse(cursor, ModelDailyRollup, "day", DailyRollup, "day", day, day, day, None)
        month = month_of(day)
        _replace_coarse(
            cursor, ProjectMonthlyRollup, "month", ProjectDailyRollup, "day", month, *_month_days(day), None
        )
        if not advance:
            return written
        RollupProgress.objects.update_or_create(
            name=PROGRESS, defaults={"derived_until": day + datetime.timedelta(days=1)}
        )
    return written


def month_of(day: datetime.date) -> datetime.date:
    """The first day of `day`'s month (ProjectMonthlyRollup's `month`)."""
    return day.replace(day=1)


def next_month(month: datetime.date) -> datetime.date:
    return (month.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)


def _month_days(day: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The first and last days of `day`'s month."""
    first = month_of(day)
    return first, next_month(first) - datetime.timedelta(days=1)


def derive_model_days(first: datetime.date, last: datetime.date) -> None:
    """Sum the model-day rows of `first`..`last` again from their daily rows: after retention removed
    one project's daily rows of those days (a project that keeps its rollups for less)."""

    day = first
    while day <= last:
        with transaction.atomic(), connection.cursor() as cursor:
            _replace_coarse(cursor, ModelDailyRollup, "day", DailyRollup, "day", day, day, day, None)
        day += datetime.timedelta(days=1)


def _replace_coarse(
    cursor: Any,
    target: CoarseLevel,
    period: str,
    source: type[DailyRollup] | type[ProjectDailyRollup],
    source_period: str,
    value: datetime.date,
    first: datetime.date,
    last: datetime.date,
    project: str | None,
) -> None:
    """Make `target`'s rows of `value` (of one project, or all) the sums of `source`'s rows of the days
    `first`..`last`: the stale rows go, the others are inserted or overwritten (never added to)."""

    quote = connection.ops.quote_name
    table, origin = quote(target._meta.db_table), quote(source._meta.db_table)
    keys = COARSE_KEYS[target]
    dimensions = ", ".join(quote(n) for n in keys)
    columns = ", ".join(quote(n) for n in (period, *keys, *ROLLUP_SUMS))
    sums = ", ".join(f"SUM({quote(n)})" for n in ROLLUP_SUMS)
    updates = ", ".join(f"{quote(n)} = excluded.{quote(n)}" for n in ROLLUP_SUMS)
    adapt = connection.ops.adapt_datefield_value
    cast = "::date" if connection.vendor == "postgresql" else ""
    stale = target.objects.filter(**{period: value})
    where, params = f"{quote(source_period)} >= %s AND {quote(source_period)} <= %s", [first, last]
    if project is not None:
        if issubclass(target, ModelDailyRollup):
            raise ValueError("the model days have no project")
        stale = target.objects.filter(**{period: value}, project_uuid=project)
        where += f" AND {quote('project_uuid')} = %s"
        params.append(source._meta.get_field("project_uuid").get_db_prep_value(project, connection))
    stale._raw_delete(connection.alias)
    cursor.execute(
        f"INSERT INTO {table} ({columns}) SELECT %s{cast}, {dimensions}, {sums} FROM {origin} "  # noqa: S608
        f"WHERE {where} GROUP BY {dimensions} ON CONFLICT ({quote(period)}, {dimensions}) DO UPDATE SET {updates}",
        [adapt(value), *[adapt(p) if isinstance(p, datetime.date) else p for p in params]],
    )


def derive_month(month: datetime.date, project: str | None = None) -> None:
    """Replace `month`'s monthly rows (of one project, or all) with the sums of its project-day rows:
    after retention removed some of its days, so the month still equals its days."""

    with transaction.atomic(), connection.cursor() as cursor:
        _replace_coarse(
            cursor,
            ProjectMonthlyRollup,
            "month",
            ProjectDailyRollup,
            "day",
            month,
            *_month_days(month),
            project,
        )


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
