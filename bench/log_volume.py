"""A request log of 10,000,000 rows over a year, then the timings that matter at that size.

    .venv/bin/python -m bench.log_volume [--rows 10000000] [--days 365]
        [--database-url postgres://postgres@127.0.0.1:5432/pg_bench_logs] [--skip-load]

Loads `--rows` rows spread evenly over the last `--days` days through the request-log writer itself
(`write_request_logs`: raw rows, hourly rollup, batch ids; on PostgreSQL into daily partitions made
first), sampling the writer's RSS as it goes; derives the daily rollup (and the per-project day and
month levels with it); then times:

- the usage report (gateways/ai/usage.py `report`, all gateways) per day for 30 and 365 days, for one
  project per day over 365 days, per project over 365 days, and per day x project over 365 days;
- pruning one day (the oldest: a partition dropped on PostgreSQL, bounded DELETEs on SQLite), then
  pruning down to 30 days of raw rows (the default retention; the rollups keep the year);
- a filtered raw-log search over what is left (one project, one endpoint, status 5xx, newest first,
  one page of 50 rows by keyset), first page and a page from the middle of the range.

Not a test: it takes minutes to hours at full size. Prints a markdown report.
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import time
from collections.abc import Callable
from typing import Any

from bench import logdb

BATCH = 2000


def timed(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    """Median wall time (ms) of `repeat` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times), result


def load(rows: int, days: int, vendor: str) -> tuple[datetime.datetime, list[float]]:
    from django.db import connection, transaction

    from audit import partitions
    from gateways.common.logrows import write_request_logs

    end = datetime.datetime.now(datetime.UTC).replace(minute=0, second=0, microsecond=0)
    start = end - datetime.timedelta(days=days)
    if vendor == "postgresql":  # every day of the year gets its partition, as upkeep would have made them
        with connection.cursor() as cursor:
            have = {day for _, day in partitions.daily_partitions(cursor)}
        for n in range(days + 2):
            day = start.date() + datetime.timedelta(days=n)
            if day not in have:
                with transaction.atomic(), connection.cursor() as cursor:
                    partitions.create(cursor, day)
    maker = logdb.RowMaker()
    step = (end - start) / rows
    rss = [logdb.rss_mb()]
    began = time.perf_counter()
    for first in range(0, rows, BATCH):
        batch = [maker.row(start + step * i) for i in range(first, min(first + BATCH, rows))]
        write_request_logs(batch)
        if (first // BATCH) % max(rows // BATCH // 10, 1) == 0:
            rss.append(logdb.rss_mb())
            done = first + len(batch)
            print(f"  loaded {done:,} rows, {done / (time.perf_counter() - began):,.0f} rows/s", flush=True)
    rss.append(logdb.rss_mb())
    return start, rss


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--database-url", help="scratch database (default: a SQLite file in bench/var/)")
    parser.add_argument("--skip-load", action="store_true", help="time what an earlier run loaded")
    args = parser.parse_args()
    vendor = logdb.setup(args.database_url)
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from audit import rollups
    from audit.api.filters import RequestLogFilter
    from audit.models import (
        DailyRollup,
        HourlyRollup,
        ProjectDailyRollup,
        ProjectMonthlyRollup,
        RequestLog,
    )
    from audit.retention import Pruner
    from gateways.ai import usage

    rss: list[float] = []
    began = time.perf_counter()
    if not args.skip_load:
        _, rss = load(args.rows, args.days, vendor)
    load_s = time.perf_counter() - began
    now = datetime.datetime.now(datetime.UTC)
    for day in rollups.days_to_derive(now):
        rollups.derive_daily(day)
    total = RequestLog.objects.count()
    root = get_user_model()(username="bench", is_superuser=True)  # not saved: a superuser sees everything
    today = now.date()

    busiest = logdb.RowMaker().projects[0]

    def usage_for(days: int, groups: tuple[str, ...], project: str | None = None) -> int:
        params = {"since": (today - datetime.timedelta(days=days)).isoformat(), "gateway": "all"}
        if project:
            params["project"] = project
        return len(usage.report(root, params, groups))

    results = {}
    results["usage: all projects per day, 30 days"] = timed(lambda: usage_for(30, ("day",)))
    results["usage: all projects per day, 365 days"] = timed(lambda: usage_for(365, ("day",)))
    results["usage: one project (the busiest) per day, 365 days"] = timed(
        lambda: usage_for(365, ("day",), busiest)
    )
    results["usage: per project, 365 days"] = timed(lambda: usage_for(365, ("project",)))
    results["usage: per day x project, 365 days (capped at 5,000 rows)"] = timed(
        lambda: usage_for(365, ("day", "project")), repeat=1
    )
    oldest = RequestLog.objects.order_by("time").values_list("time", flat=True).first()
    reports = {}
    if oldest is not None:
        # Retention set so that exactly the oldest day is past the horizon, then down to 30 days.
        settings.PROMPTGATE_ROLLUP_RETENTION_DAYS = max(
            args.days + 2, settings.PROMPTGATE_ROLLUP_RETENTION_DAYS
        )
        settings.PROMPTGATE_LOG_RETENTION_DAYS = (now - oldest).days
        reports["oldest day"] = Pruner(now)
        results["pruning the oldest day"] = timed(reports["oldest day"].run, repeat=1)
        settings.PROMPTGATE_LOG_RETENTION_DAYS = 30
        reports["down to 30 days"] = Pruner(now)
        results["pruning down to 30 days of raw rows"] = timed(reports["down to 30 days"].run, repeat=1)
    left = RequestLog.objects.count()
    search = {"project": busiest, "endpoint": "chat.completions", "status": "5xx"}

    def page(before: datetime.datetime | None) -> int:
        rows = RequestLogFilter(search, queryset=RequestLog.objects.all()).qs
        if before is not None:
            rows = rows.filter(time__lte=before)
        return len(list(rows.order_by("-time", "-id")[:51]))

    results[f"search ({left:,} raw rows left): project + endpoint + 5xx, first page"] = timed(
        lambda: page(None)
    )
    middle = now - datetime.timedelta(days=15)
    results["search: same, a page mid-range (keyset)"] = timed(lambda: page(middle))
    print(f"## Request log at {total:,} rows ({vendor}, {args.days} days)\n")
    if rss:
        print(f"Loaded in {load_s:,.0f} s ({args.rows / load_s:,.0f} rows/s, batches of {BATCH}).")
        print(f"Writer RSS while loading (MB): {', '.join(f'{r:.0f}' for r in rss)}\n")
    print("| query | median ms | result |")
    print("|---|---|---|")
    for name, (ms, result) in results.items():
        shown = result if not hasattr(result, "as_dict") else json_short(result.as_dict())
        print(f"| {name} | {ms:,.1f} | {shown} |")
    levels = (HourlyRollup, DailyRollup, ProjectDailyRollup, ProjectMonthlyRollup)
    counts = {m.__name__: m.objects.count() for m in levels}
    print(f"\nRollup rows: {counts}. Figures taken on a shared machine (see the note with them).")


def json_short(data: dict[str, Any]) -> str:
    """Non-empty entries; lists (partitions, days) as their length."""
    return ", ".join(f"{k}={len(v) if isinstance(v, list) else v}" for k, v in data.items() if v)


if __name__ == "__main__":
    main()
