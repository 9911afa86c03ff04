"""A request log of 10,000,000 rows over a year, built in minutes, then the timings that matter at that size.

    .venv/bin/python -m bench.log_volume [--rows 10000000] [--tail 500000] [--days 365]
        [--database-url postgres://postgres@127.0.0.1:5432/pg_logs_volume] [--load-only | --skip-load]

Loading, in time order (rows per hour follow a day's and a week's rhythm; bench/logdb.py `RowMaker`:
300 projects of Zipf-like traffic):

- the bulk, all rows but the last `--tail`: rows of a pool encoded by the writer's own `RowEncoder`
  (logrows.py, so the same row shape; `BulkRows`), COPY on PostgreSQL, `executemany` in transactions
  of BULK_CHUNK rows on SQLite; then their hourly rollup by one SQL aggregate a day
  (`hourly_from_raw`: the sums of `rollups.hourly_deltas`, added with ON CONFLICT as the writer adds);
- the tail through the real request-log process (log_process.py, batches of
  PROMPTGATE_WRITER_BATCH_SIZE), sampling the child's RSS as it goes;
- then the daily, project-day, project-month and model-day levels by the product's `derive_daily`, day by day,
  as retention passes derive them; and a check that sampled rollup rows equal the sums of the raw
  rows they summarise (`--check` samples).

Then times (median of 3 unless said; single-threaded, wall clock):

- the usage report (gateways/ai/usage.py `report`: the level planner picks the rollups) for 30 and
  365 days, one project, per project, per day x project, a model filter (the daily level), and the
  API's default grouping over 30 days;
- the raw-log search (audit/api `RequestLogFilter`, keyset pages as `KeysetPagination` makes them) at
  full size and after pruning: one project + endpoint + 5xx, first page and a page from mid-range;
- pruning one day (the oldest: a partition dropped on PostgreSQL, bounded DELETEs on SQLite), then
  pruning down to 30 days of raw rows (the default retention; the rollups keep the year).

Not a test: ~10-20 minutes per database at full size. Prints a markdown report.
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import random
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

from bench import logdb

BULK_CHUNK = 50_000  # rows per transaction on the bulk path


def timed(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    """Median wall time (ms) of `repeat` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times), result


def hour_weight(at: datetime.datetime) -> float:
    """Traffic of an hour relative to the mean: a daily wave (peak 15:00 UTC, trough 03:00 at ~1/4 of
    it) and quieter weekends."""
    daily = 1 + 0.6 * math.sin((at.hour - 9) * math.pi / 12)
    return daily * (0.6 if at.weekday() >= 5 else 1.1)


def row_times(rows: int, start: datetime.datetime, days: int) -> Iterator[datetime.datetime]:
    """`rows` times in order over `days` days from `start`, each hour's count by its weight."""
    hours = [start + datetime.timedelta(hours=h) for h in range(days * 24)]
    weights = [hour_weight(h) for h in hours]
    total = sum(weights)
    seen, placed = 0.0, 0
    for hour, weight in zip(hours, weights, strict=True):
        seen += weight
        count = round(rows * seen / total) - placed
        placed += count
        for i in range(count):
            yield hour + datetime.timedelta(microseconds=int(3_600_000_000 * (i + 0.5) / count))


def make_partitions(start: datetime.datetime, days: int) -> None:
    """Every day of the range gets its partition, as upkeep would have made them."""
    from django.db import connection, transaction

    from audit import partitions

    with connection.cursor() as cursor:
        have = {day for _, day in partitions.daily_partitions(cursor)}
    for n in range(days + 2):
        day = start.date() + datetime.timedelta(days=n)
        if day not in have:
            with transaction.atomic(), connection.cursor() as cursor:
                partitions.create(cursor, day)


class BulkRows:
    """Encoded rows for the bulk path, cheaply: a pool of POOL rows from `RowMaker`, encoded once by the
    writer's own `RowEncoder` (logrows.py: the same parameters the writer binds), each bulk row a pool row
    with its own time and request id. Generating and encoding every row in Python made ~3,000 rows/s on
    the shared machine (an hour for 10 M); the pool's rows carry the same distribution of projects,
    tokens, endpoints, models and statuses, so the same rollup keys."""

    POOL = 200_000

    def __init__(self, maker: logdb.RowMaker) -> None:
        from django.db import connection

        from audit.models import RequestLog
        from gateways.common.logrows import RowEncoder

        self.encoder = RowEncoder(RequestLog, connection)
        names = [c.name for c in self.encoder.columns]
        self.time_at, self.request_id_at = names.index("time"), names.index("request_id")
        epoch = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
        self.pool = [self.encoder.encode(maker.row(epoch)) for _ in range(self.POOL)]
        self.rand = random.Random(3)
        self.adapt = connection.ops.adapt_datetimefield_value
        self.made = 0

    def chunk(self, times: list[datetime.datetime]) -> list[list[Any]]:
        pool, pick, adapt = self.pool, self.rand.randrange, self.adapt
        out = []
        for at in times:
            values = pool[pick(self.POOL)].copy()
            values[self.time_at] = adapt(at)
            values[self.request_id_at] = f"bulk{self.made:028x}"
            self.made += 1
            out.append(values)
        return out


def bulk_write(params: list[list[Any]], columns: list[str]) -> None:
    """One chunk of raw rows in one transaction: COPY on PostgreSQL, executemany on SQLite."""
    from django.db import connection, transaction

    from audit.models import RequestLog

    quote = connection.ops.quote_name
    table = quote(RequestLog._meta.db_table)
    names = ", ".join(quote(c) for c in columns)
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for values in params:
                    copy.write_row(values)
        else:
            marks = ", ".join(["?"] * len(columns))
            cursor.cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", params)


def without_indexes() -> list[str]:
    """SQLite: drop the request log's secondary indexes for the bulk and return their definitions.
    Inserting 10 M rows into six B-trees a row at a time ran at ~3,500 rows/s on the shared machine;
    CREATE INDEX sorts once. (PostgreSQL's daily partitions keep each index small: it loads as is.)"""
    from django.db import connection

    from audit.models import RequestLog

    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size = -1000000")  # 1 GB of page cache for this connection
        cursor.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = %s AND sql IS NOT NULL",
            [RequestLog._meta.db_table],
        )
        found = cursor.fetchall()
        for name, _sql in found:
            cursor.execute(f'DROP INDEX "{name}"')
    return [sql for _name, sql in found]


def restore_indexes(definitions: list[str]) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for sql in definitions:
            cursor.execute(sql)


def hourly_from_raw(lo: datetime.datetime, hi: datetime.datetime) -> None:
    """Add the hourly rollup of the raw rows in [lo, hi) with one SQL aggregate: the sums `hourly_deltas`
    makes (rollups.py), bucket for bucket; `check_rollups` compares samples against the product's code."""
    from django.db import connection, transaction

    from audit.models import (
        LATENCY_BUCKETS_MS,
        LATENCY_COLUMNS,
        ROLLUP_DIMENSIONS,
        ROLLUP_SUMS,
        HourlyRollup,
        RequestLog,
    )

    quote = connection.ops.quote_name
    raw, hourly = quote(RequestLog._meta.db_table), quote(HourlyRollup._meta.db_table)
    if connection.vendor == "postgresql":
        hour = "date_trunc('hour', time)"
    else:  # the text Django stores for an aware datetime at a whole hour: 'YYYY-MM-DD HH:00:00'
        hour = "substr(time, 1, 13) || ':00:00'"
    dims = [quote(d) for d in ROLLUP_DIMENSIONS[:-1]]
    buckets = []
    for i, upper in enumerate(LATENCY_BUCKETS_MS):
        lower = f"latency_ms > {LATENCY_BUCKETS_MS[i - 1]}" if i else "1 = 1"
        upper_sql = f"latency_ms <= {upper}" if upper != float("inf") else "1 = 1"
        buckets.append(f"SUM(CASE WHEN {lower} AND {upper_sql} THEN 1 ELSE 0 END)")
    sums = [
        "COUNT(*)",
        "SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END)",
        "SUM(bytes_in)",
        "SUM(bytes_out)",
        "SUM(COALESCE(tokens_in, 0))",
        "SUM(COALESCE(tokens_out, 0))",
        "SUM(CAST(ROUND(COALESCE(cost, 0) * 1000000000) AS BIGINT))",
        "SUM(latency_ms)",
        *buckets,
    ]
    assert len(sums) == len(ROLLUP_SUMS) == 8 + len(LATENCY_COLUMNS)
    columns = ", ".join(quote(c) for c in ("hour", *ROLLUP_DIMENSIONS, *ROLLUP_SUMS))
    key = ", ".join(quote(c) for c in ("hour", *ROLLUP_DIMENSIONS))
    add = ", ".join(f"{quote(c)} = {hourly}.{quote(c)} + excluded.{quote(c)}" for c in ROLLUP_SUMS)
    group = ", ".join([hour, *dims, "status / 100"])
    adapt = connection.ops.adapt_datetimefield_value
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {hourly} ({columns}) SELECT {hour}, {', '.join(dims)}, status / 100, "
            f"{', '.join(sums)} FROM {raw} WHERE time >= %s AND time < %s GROUP BY {group} "
            f"ON CONFLICT ({key}) DO UPDATE SET {add}",
            [adapt(lo), adapt(hi)],
        )


def child_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def load(rows: int, tail: int, days: int, vendor: str) -> dict[str, Any]:
    from django.conf import settings

    from audit import rollups
    from gateways.common.log_process import RequestLogProcess

    end = datetime.datetime.now(datetime.UTC).replace(minute=0, second=0, microsecond=0)
    start = end - datetime.timedelta(days=days)
    if vendor == "postgresql":
        make_partitions(start, days)
    maker = logdb.RowMaker()
    times = row_times(rows, start, days)
    out: dict[str, Any] = {"rows": rows, "tail": tail}
    bulk = rows - tail
    began = time.perf_counter()
    maker_rows = BulkRows(maker)
    columns = maker_rows.encoder.column_names
    indexes = without_indexes() if vendor == "sqlite" else []
    done = 0
    while done < bulk:
        at = [next(times) for _ in range(min(BULK_CHUNK, bulk - done))]
        bulk_write(maker_rows.chunk(at), columns)
        done += len(at)
        if (done // BULK_CHUNK) % 20 == 0 or done == bulk:
            rate = done / (time.perf_counter() - began)
            print(f"  bulk: {done:,} raw rows, {rate:,.0f} rows/s", flush=True)
    if indexes:
        indexed = time.perf_counter()
        restore_indexes(indexes)
        print(f"  bulk: indexes made again in {time.perf_counter() - indexed:,.0f} s", flush=True)
    out["raw_s"] = time.perf_counter() - began
    # The bulk's hourly rollup, a day at a time (the tail's comes from the writer, added to it).
    rolled = time.perf_counter()
    for n in range(days + 1):
        lo = start + datetime.timedelta(days=n)
        hourly_from_raw(lo, lo + datetime.timedelta(days=1))
    out["hourly_s"] = time.perf_counter() - rolled
    print(f"  bulk: hourly rollup in {out['hourly_s']:,.0f} s", flush=True)
    # The tail through the request-log process itself, as the serving process hands it batches.
    size = settings.PROMPTGATE_WRITER_BATCH_SIZE
    # The child as production runs it: DEBUG off. With DEBUG on (logdb.setup's default, for the dev
    # secrets) Django keeps the last 9,000 statements per connection, each rollup upsert's SQL with its
    # arrays inlined (~100 KB): the child grew 61 -> 175 MB over 500,000 rows on PostgreSQL.
    os.environ.update(
        DEBUG="false",
        SECRET_KEY=settings.SECRET_KEY,
        PROMPTGATE_ENCRYPTION_KEYS=",".join(settings.PROMPTGATE_ENCRYPTION_KEYS),
    )
    writer = RequestLogProcess()
    writer.start()
    assert writer.pid is not None
    pid = writer.pid
    rss = [child_rss_mb(pid)]
    began = time.perf_counter()
    batches = math.ceil(tail / size)
    for n in range(batches):
        writer([maker.row(next(times)) for _ in range(min(size, tail - n * size))])
        if n % max(batches // 20, 1) == 0:
            rss.append(child_rss_mb(pid))
    rss.append(child_rss_mb(pid))
    writer.close()
    out["tail_s"] = time.perf_counter() - began
    out["rss"] = rss
    out["batch"] = size
    print(f"  tail: {tail:,} rows through the writer process, {tail / out['tail_s']:,.0f} rows/s", flush=True)
    began = time.perf_counter()
    now = datetime.datetime.now(datetime.UTC)
    derived = rollups.days_to_derive(now)
    for day in derived:
        rollups.derive_daily(day)
    out["derive_s"] = time.perf_counter() - began
    out["derived_days"] = len(derived)
    if vendor == "postgresql":  # what autovacuum does to a table that grew by inserts
        from django.db import connection

        began = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE)")
        out["vacuum_s"] = time.perf_counter() - began
    return out


# --- the check: sampled rollup rows against the raw rows they summarise --------------------------------
RAW_FIELDS = (
    "time", "project_uuid", "gateway", "endpoint", "token_prefix", "provider", "model", "status",
    "latency_ms", "bytes_in", "bytes_out", "tokens_in", "tokens_out", "cost",
)  # fmt: skip


def _same(stored: dict[str, Any], expected: list[Any]) -> bool:
    from audit.models import ROLLUP_SUMS

    for name, want in zip(ROLLUP_SUMS, expected, strict=True):
        have = stored[name]
        if name == "latency_ms_sum":
            if not math.isclose(have, want, rel_tol=1e-9, abs_tol=1e-6):
                return False
        elif int(have) != int(want):
            return False
    return True


def _summed(deltas: dict[Any, list[Any]], key: Callable[[tuple[Any, ...]], Any]) -> dict[Any, list[Any]]:
    out: dict[Any, list[Any]] = {}
    for k, sums in deltas.items():
        total = out.setdefault(key(k), [0] * len(sums))
        for i, value in enumerate(sums):
            total[i] += value
    return out


def check_rollups(samples: int) -> list[str]:
    """Sampled hours, days and months of one project each: every rollup row of the sample equals the sums
    the product's own `hourly_deltas` makes of the raw rows, and no key is missing or extra."""
    from audit import rollups
    from audit.models import (
        ROLLUP_DIMENSIONS,
        ROLLUP_SUMS,
        DailyRollup,
        HourlyRollup,
        ProjectDailyRollup,
        ProjectMonthlyRollup,
        RequestLog,
    )

    rand = random.Random(7)
    derived_until = rollups.derived_until()
    assert derived_until is not None
    sums = list(ROLLUP_SUMS)
    failures = []
    picks = list(HourlyRollup.objects.order_by("?").values_list("hour", "project_uuid")[:samples])
    for hour, project in picks:
        day = hour.astimezone(datetime.UTC).date()
        if day >= derived_until:
            day = derived_until - datetime.timedelta(days=1)
        month = rollups.month_of(day)
        if rand.random() < 0.5 and rollups.next_month(month) < derived_until:  # a whole month, now and then
            month_span: tuple[datetime.datetime, datetime.datetime] | None = (
                datetime.datetime.combine(month, datetime.time.min, datetime.UTC),
                datetime.datetime.combine(rollups.next_month(month), datetime.time.min, datetime.UTC),
            )
        else:
            month_span = None
        day_start = datetime.datetime.combine(day, datetime.time.min, datetime.UTC)
        spans = [
            (hour, hour + datetime.timedelta(hours=1)),
            (day_start, day_start + datetime.timedelta(days=1)),
        ]
        if month_span is not None:
            spans.append(month_span)
        for lo, hi in spans:
            raw = RequestLog.objects.filter(project_uuid=project, time__gte=lo, time__lt=hi).values(
                *RAW_FIELDS
            )
            deltas = rollups.hourly_deltas(raw.iterator(chunk_size=5000))
            if hi - lo == datetime.timedelta(hours=1):
                stored = HourlyRollup.objects.filter(project_uuid=project, hour=lo)
                expected = {(k[0], *k[1:]): v for k, v in deltas.items()}
                have = {
                    (r["hour"], str(r["project_uuid"]), *(r[d] for d in ROLLUP_DIMENSIONS[1:])): r
                    for r in stored.values("hour", *ROLLUP_DIMENSIONS, *sums)
                }
                levels = [("hourly", have, expected)]
            elif hi - lo == datetime.timedelta(days=1):
                by_day = _summed(deltas, lambda k: (k[0].date(), *k[1:]))
                have = {
                    (r["day"], str(r["project_uuid"]), *(r[d] for d in ROLLUP_DIMENSIONS[1:])): r
                    for r in DailyRollup.objects.filter(project_uuid=project, day=day).values(
                        "day", *ROLLUP_DIMENSIONS, *sums
                    )
                }
                coarse = _summed(deltas, lambda k: (k[0].date(), k[1], k[2]))
                have_coarse = {
                    (r["day"], str(r["project_uuid"]), r["gateway"]): r
                    for r in ProjectDailyRollup.objects.filter(project_uuid=project, day=day).values(
                        "day", "project_uuid", "gateway", *sums
                    )
                }
                levels = [("daily", have, by_day), ("project-day", have_coarse, coarse)]
            else:
                by_month = _summed(deltas, lambda k: (rollups.month_of(k[0].date()), k[1], k[2]))
                have = {
                    (r["month"], str(r["project_uuid"]), r["gateway"]): r
                    for r in ProjectMonthlyRollup.objects.filter(project_uuid=project, month=month).values(
                        "month", "project_uuid", "gateway", *sums
                    )
                }
                levels = [("project-month", have, by_month)]
            for level, stored_rows, expected_rows in levels:
                if set(stored_rows) != set(expected_rows):
                    failures.append(f"{level} {project} {lo}: keys differ")
                    continue
                for key, want in expected_rows.items():
                    if not _same(stored_rows[key], want):
                        failures.append(f"{level} {project} {lo}: sums differ for {key}")
    return failures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--tail", type=int, default=500_000, help="rows loaded through the writer process")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--check", type=int, default=20, help="sampled (hour, project) rollup checks")
    parser.add_argument("--database-url", help="scratch database (default: a SQLite file in bench/var/)")
    parser.add_argument("--skip-load", action="store_true", help="time what an earlier run loaded")
    parser.add_argument("--load-only", action="store_true", help="load and check, time nothing")
    args = parser.parse_args()
    vendor = logdb.setup(args.database_url)
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from audit.api import keyset as keyset_pages
    from audit.api.filters import RequestLogFilter
    from audit.models import (
        DailyRollup,
        HourlyRollup,
        ModelDailyRollup,
        ProjectDailyRollup,
        ProjectMonthlyRollup,
        RequestLog,
    )
    from audit.retention import Pruner
    from gateways.ai import usage, usage_levels

    loaded: dict[str, Any] = {}
    if not args.skip_load:
        loaded = load(args.rows, min(args.tail, args.rows), args.days, vendor)
        began = time.perf_counter()
        failures = check_rollups(args.check)
        print(
            f"  check of {args.check} sampled hours (with their days, some months): "
            f"{'ok' if not failures else failures[:5]} in {time.perf_counter() - began:.0f} s"
        )
        loaded["check"] = "equal" if not failures else f"{len(failures)} differ"
    levels = (HourlyRollup, DailyRollup, ProjectDailyRollup, ProjectMonthlyRollup, ModelDailyRollup)
    counts = {m.__name__: m.objects.count() for m in levels}
    total = RequestLog.objects.count()
    _print_load(vendor, args, loaded, counts, total)
    if args.load_only:
        return

    root = get_user_model()(username="bench", is_superuser=True)  # not saved: a superuser sees everything
    now = datetime.datetime.now(datetime.UTC)
    today = now.date()
    maker = logdb.RowMaker()
    busiest, quiet = maker.projects[0], maker.projects[40]

    def usage_for(days: int, groups: tuple[str, ...], **extra: str) -> int:
        params = {"since": (today - datetime.timedelta(days=days)).isoformat(), "gateway": "all", **extra}
        return len(usage.report(root, params, groups))

    results: dict[str, tuple[float, Any]] = {}
    results["usage: all projects per day, 30 days"] = timed(lambda: usage_for(30, ("day",)))
    results["usage: all projects per day, 365 days"] = timed(lambda: usage_for(365, ("day",)))
    results["usage: the busiest project per day, 365 days"] = timed(
        lambda: usage_for(365, ("day",), project=busiest)
    )
    results["usage: per project, 365 days"] = timed(lambda: usage_for(365, ("project",)))
    results["usage: per day x project, 365 days (5,000 rows shown)"] = timed(
        lambda: usage_for(365, ("day", "project")), repeat=1
    )
    results["usage: model=gpt-4o per day, 365 days (model days)"] = timed(
        lambda: usage_for(365, ("day",), model="gpt-4o")
    )
    plan = usage_levels.plan  # the full daily rollup, as a reader of some projects gets (and before f8554a5)
    usage_levels.plan = lambda *args, **kwargs: plan(*args, **{**kwargs, "every_project": False})
    results["usage: the same from the daily level (before f8554a5)"] = timed(
        lambda: usage_for(365, ("day",), model="gpt-4o")
    )
    usage_levels.plan = plan
    results["usage: the API's default grouping (day, project, token, endpoint, model), 30 days"] = timed(
        lambda: usage_for(30, usage.DEFAULT_GROUPS)
    )
    newest_days = usage._newest_days  # the whole range summed, as before 12178a3: for comparison
    usage._newest_days = lambda *args: None
    results["usage: the same, every day of the 30 read (before 12178a3)"] = timed(
        lambda: usage_for(30, usage.DEFAULT_GROUPS), repeat=1
    )
    usage._newest_days = newest_days

    def search(label: str, project: str, middle_days: int) -> None:
        params = {"project": project, "endpoint": "chat.completions", "status": "5xx"}

        def rows() -> Any:
            return RequestLogFilter(params, queryset=RequestLog.objects.all()).qs

        def first() -> int:  # as the API pages it (windows of newest days on PostgreSQL)
            return len(keyset_pages.newest_first(rows(), None, 51))

        middle = now - datetime.timedelta(days=middle_days)
        cursor_row = (
            rows().filter(time__lte=middle).order_by("-time", "-id").values_list("time", "id").first()
        )

        def keyset() -> int:  # the next page after a row mid-range, as KeysetPagination filters it
            if cursor_row is None:
                return 0
            at, pk = cursor_row
            page = rows().filter(time__lte=at).exclude(time=at, id__gte=pk)
            return len(keyset_pages.newest_first(page, at, 51))

        results[f"search {label}: first page"] = timed(first)
        results[f"search {label}: a page {middle_days} days back (keyset)"] = timed(keyset)

    search(f"({total:,} rows), busiest project + chat.completions + 5xx", busiest, 180)
    search(f"({total:,} rows), a quiet project + chat.completions + 5xx", quiet, 180)

    oldest = RequestLog.objects.order_by("time").values_list("time", flat=True).first()
    if oldest is not None:
        # Retention set so that exactly the oldest day is past the horizon, then down to 30 days.
        settings.PROMPTGATE_ROLLUP_RETENTION_DAYS = max(
            args.days + 2, settings.PROMPTGATE_ROLLUP_RETENTION_DAYS
        )
        settings.PROMPTGATE_LOG_RETENTION_DAYS = (now - oldest).days
        results["pruning the oldest day"] = timed(Pruner(now).run, repeat=1)
        settings.PROMPTGATE_LOG_RETENTION_DAYS = 30
        results["pruning down to 30 days of raw rows"] = timed(Pruner(now).run, repeat=1)
    left = RequestLog.objects.count()
    search(f"({left:,} rows left), busiest project + chat.completions + 5xx", busiest, 15)

    print("| query | median ms | result |")
    print("|---|---|---|")
    for name, (ms, result) in results.items():
        shown = result if not hasattr(result, "as_dict") else json_short(result.as_dict())
        print(f"| {name} | {ms:,.1f} | {shown} |")


def _print_load(vendor: str, args: Any, loaded: dict[str, Any], counts: dict[str, int], total: int) -> None:
    print(f"\n## Request log at {total:,} rows ({vendor}, {args.days} days)\n")
    if loaded:
        bulk = loaded["rows"] - loaded["tail"]
        print(
            f"Bulk: {bulk:,} raw rows in {loaded['raw_s']:,.0f} s ({bulk / loaded['raw_s']:,.0f} rows/s), "
            f"their hourly rollup {loaded['hourly_s']:,.0f} s. Tail: {loaded['tail']:,} rows through the request-log process in "
            f"{loaded['tail_s']:,.0f} s ({loaded['tail'] / loaded['tail_s']:,.0f} rows/s, batches of "
            f"{loaded['batch']}). Daily levels of {loaded['derived_days']} days derived in "
            f"{loaded['derive_s']:,.0f} s."
            + (f" VACUUM (ANALYZE) {loaded['vacuum_s']:,.0f} s." if "vacuum_s" in loaded else "")
        )
        print(
            f"Writer process RSS while writing the tail (MB): {', '.join(f'{r:.0f}' for r in loaded['rss'])}"
        )
        print(
            f"Rollups against raw rows ({args.check} sampled hours, their days, some months): {loaded['check']}.\n"
        )
    hours = args.days * 24
    print(
        f"Rollup rows: {counts}; {counts['HourlyRollup'] / max(total, 1):.2f} hourly keys per raw row, "
        f"{counts['HourlyRollup'] / hours:,.0f} per hour on average.\n"
    )


def json_short(data: dict[str, Any]) -> str:
    """Non-empty entries; lists (partitions, days) as their length."""
    return ", ".join(f"{k}={len(v) if isinstance(v, list) else v}" for k, v in data.items() if v)


if __name__ == "__main__":
    main()
