"""Rollups against the raw rows they summarise: one writer, two writer processes, re-sent batches, and
percentiles read from the latency histogram."""

from __future__ import annotations

import bisect
import datetime
import random
import sys
import threading
import uuid
from collections import defaultdict
from decimal import Decimal

import psycopg
import pytest
from django.db import IntegrityError

from audit import rollups
from audit.models import (
    LATENCY_BUCKETS_MS,
    LATENCY_COLUMNS,
    DailyRollup,
    HourlyRollup,
    RequestLog,
    RequestLogBatch,
)
from gateways.common.log_process import RequestLogProcess
from gateways.common.logrows import write_request_logs

pytestmark = pytest.mark.django_db(transaction=True)

START = datetime.datetime(2026, 11, 30, 22, 0, tzinfo=datetime.UTC)  # spans a UTC midnight
PROJECTS = [str(uuid.uuid4()) for _ in range(2)]


def make_rows(n: int, seed: int, marker: str = "") -> list[dict[str, object]]:
    rand = random.Random(seed)
    rows = []
    for i in range(n):
        status = rand.choice([200, 200, 200, 201, 302, 404, 429, 499, 502])
        row: dict[str, object] = {
            "time": START + datetime.timedelta(seconds=rand.randrange(3 * 3600)),
            "project_uuid": rand.choice(PROJECTS) if i % 3 else uuid.UUID(rand.choice(PROJECTS)),
            "gateway": rand.choice(["ai", "http"]),
            "endpoint": rand.choice(["chat.completions", "embeddings", ""]),
            "token_prefix": rand.choice(["pg_test_aaaa", "pg_test_bbbb"]),
            "status": status,
            "latency_ms": rand.lognormvariate(3, 1.2),
            "bytes_in": rand.randrange(2000),
            "bytes_out": rand.randrange(20000),
            "request_id": f"{marker}{seed}-{i}",
        }
        if row["gateway"] == "ai":
            row.update(
                provider="openai",
                model=rand.choice(["gpt-4o", "gpt-4o-mini"]),
                tokens_in=rand.randrange(500),
                tokens_out=rand.randrange(500) if rand.random() < 0.9 else None,
                cost=Decimal(rand.randrange(10**6)) / Decimal(10**8) if rand.random() < 0.9 else None,
            )
        rows.append(row)
    return rows


def expected_from_raw(period: str) -> dict[tuple, dict[str, object]]:
    """Sums computed here from the raw table, independently of audit/rollups.py."""
    out: dict[tuple, dict[str, object]] = defaultdict(lambda: defaultdict(int))
    for r in RequestLog.objects.all():
        at = r.time.astimezone(datetime.UTC)
        when = at.replace(minute=0, second=0, microsecond=0) if period == "hour" else at.date()
        key = (when, str(r.project_uuid), r.gateway, r.endpoint, r.token_prefix, r.provider, r.model)
        key += (r.status // 100,)
        sums = out[key]
        sums["requests"] += 1
        sums["errors"] += r.status >= 400
        sums["bytes_in"] += r.bytes_in
        sums["bytes_out"] += r.bytes_out
        sums["tokens_in"] += r.tokens_in or 0
        sums["tokens_out"] += r.tokens_out or 0
        sums["cost_nanos"] += int((r.cost or 0) * 10**9)
        bucket = bisect.bisect_left(LATENCY_BUCKETS_MS, r.latency_ms)
        sums[LATENCY_COLUMNS[bucket]] += 1
    return {k: dict(v) for k, v in out.items()}


def stored(model: type[HourlyRollup] | type[DailyRollup], period: str) -> dict[tuple, dict[str, object]]:
    out = {}
    names = ["requests", "errors", "bytes_in", "bytes_out", "tokens_in", "tokens_out", "cost_nanos"]
    for row in model.objects.all():
        key = (getattr(row, period), str(row.project_uuid), row.gateway, row.endpoint, row.token_prefix)
        key += (row.provider, row.model, row.status_class)
        values = {n: getattr(row, n) for n in [*names, *LATENCY_COLUMNS]}
        out[key] = {n: v for n, v in values.items() if v}
    return out


def assert_rollups_match_raw() -> None:
    def nonzero(table: dict) -> dict:
        return {k: {n: v for n, v in sums.items() if v} for k, sums in table.items()}

    assert stored(HourlyRollup, "hour") == nonzero(expected_from_raw("hour"))
    # The daily rollup is derived from the hourly one (each day once it is over, by the retention pass).
    for day in {hour.date() for hour in HourlyRollup.objects.values_list("hour", flat=True)}:
        rollups.derive_daily(day)
    assert stored(DailyRollup, "day") == nonzero(expected_from_raw("day"))


def test_rollups_equal_the_sums_of_the_raw_rows_over_many_batches():
    for seed in range(6):
        write_request_logs(make_rows(150, seed))
    assert RequestLog.objects.count() == 900
    assert HourlyRollup.objects.count() > 20  # many keys, several hours and two days
    assert not DailyRollup.objects.exists()  # the writer adds to the hourly rollup only
    # A day is derived once it is over and an hour of grace has passed (batches still in flight).
    assert rollups.days_to_derive(START + datetime.timedelta(hours=2, minutes=59)) == []
    assert rollups.days_to_derive(START + datetime.timedelta(hours=3)) == [START.date()]
    assert_rollups_match_raw()
    days = {r.day for r in DailyRollup.objects.all()}
    assert days == {START.date(), START.date() + datetime.timedelta(days=1)}
    write_request_logs(make_rows(30, seed=99))  # a late batch for a derived day: deriving it again adds it
    assert_rollups_match_raw()


def test_a_re_sent_batch_counts_once():
    rows = make_rows(40, seed=7)
    assert write_request_logs(rows, "batch-7") is True
    assert write_request_logs(rows, "batch-7") is False  # its acknowledgement was lost: sent again
    assert write_request_logs(make_rows(10, seed=8), "batch-8") is True
    assert RequestLog.objects.count() == 50
    assert sum(HourlyRollup.objects.values_list("requests", flat=True)) == 50
    assert set(RequestLogBatch.objects.values_list("batch_id", flat=True)) == {"batch-7", "batch-8"}
    assert_rollups_match_raw()


def test_a_batch_the_database_refuses_leaves_no_rollup_and_no_batch_id():
    rows = make_rows(5, seed=9)
    rows[3]["gateway"] = None  # NOT NULL: the whole transaction is refused
    # SQLite refuses through Django's cursor (IntegrityError); PostgreSQL's COPY through psycopg's own.
    with pytest.raises((IntegrityError, psycopg.IntegrityError)):
        write_request_logs(rows, "refused")
    assert not RequestLog.objects.exists() and not HourlyRollup.objects.exists()
    rows[3]["gateway"] = "http"
    assert write_request_logs(rows, "refused") is True  # the retry is not mistaken for a duplicate
    assert_rollups_match_raw()


def test_two_writer_processes_adding_to_the_same_keys_agree_with_the_raw_rows():
    children = [RequestLogProcess(), RequestLogProcess()]
    errors: list[BaseException] = []

    def feed(child: RequestLogProcess, seeds: range) -> None:
        try:
            for seed in seeds:
                child(make_rows(120, seed))  # same projects, hours and models: the same rollup keys
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    try:
        threads = [
            threading.Thread(target=feed, args=(children[0], range(0, 5))),
            threading.Thread(target=feed, args=(children[1], range(5, 10))),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert children[0].pid != children[1].pid
    finally:
        for child in children:
            child.close()
    assert not errors
    assert RequestLog.objects.count() == 1200
    assert_rollups_match_raw()


def test_a_child_that_died_after_committing_is_not_counted_twice_when_the_batch_is_resent(tmp_path):
    """The first child commits the batch and dies before answering; the parent starts another and
    sends the batch again under the same id: the second child finds the id and skips it."""
    flag = tmp_path / "died-once"
    stand_in = f"""
import os, sys
import gateways.common.log_process as lp
import gateways.common.logrows as logrows
real = logrows.write_request_logs
def commit_then_die(rows, batch_id=None):
    written = real(rows, batch_id)
    if not os.path.exists({str(flag)!r}):
        open({str(flag)!r}, "w").close()
        os._exit(9)  # committed, never acknowledged
    return written
logrows.write_request_logs = commit_then_die
sys.exit(lp.main())
"""
    child = RequestLogProcess(command=[sys.executable, "-c", stand_in])
    try:
        child(make_rows(30, seed=11))  # returns normally: the resend was acknowledged
        child(make_rows(20, seed=12))
    finally:
        child.close()
    assert flag.exists()
    assert RequestLog.objects.count() == 50
    assert RequestLogBatch.objects.count() == 2
    assert_rollups_match_raw()


# --- percentiles ---------------------------------------------------------------------------------
def _bucket_bounds(value: float) -> tuple[float, float]:
    i = bisect.bisect_left(LATENCY_BUCKETS_MS, value)
    return (0.0 if i == 0 else LATENCY_BUCKETS_MS[i - 1], LATENCY_BUCKETS_MS[i])


@pytest.mark.parametrize("seed", range(5))
def test_percentiles_from_the_histogram_are_within_the_bucket_of_the_exact_value(seed):
    rand = random.Random(seed)
    latencies = [rand.lognormvariate(rand.uniform(1, 6), rand.uniform(0.3, 1.5)) for _ in range(2000)]
    latencies = [min(v, 25_000.0) for v in latencies]  # the open-ended last bucket has no upper bound
    histogram = [0] * len(LATENCY_BUCKETS_MS)
    for value in latencies:
        histogram[rollups.bucket_of(value)] += 1
    ordered = sorted(latencies)
    for q in (0.5, 0.95, 0.99):
        exact = ordered[max(int(q * len(ordered) + 0.999999) - 1, 0)]  # nearest-rank
        low, high = _bucket_bounds(exact)
        estimate = rollups.percentile(histogram, q)
        assert low <= estimate <= high, (q, exact, estimate)


def test_percentiles_of_written_rollups(project):
    at = datetime.datetime(2026, 12, 1, 10, 15, tzinfo=datetime.UTC)
    latencies = [float(v) for v in range(1, 1001)]  # 1 … 1000 ms: p50 = 500, p95 = 950, p99 = 990
    base = {"time": at, "project_uuid": project.uuid, "gateway": "http", "status": 200}
    write_request_logs([{**base, "latency_ms": v} for v in latencies])
    row = HourlyRollup.objects.values().get()
    summary = rollups.latency_summary(row)
    assert summary["latency_ms_avg"] == 500.5
    for name, exact in (("latency_ms_p50", 500), ("latency_ms_p95", 950), ("latency_ms_p99", 990)):
        low, high = _bucket_bounds(exact)
        assert low <= summary[name] <= high, (name, summary[name])
    assert rollups.percentile([0] * len(LATENCY_BUCKETS_MS), 0.5) is None


# --- rebuilding past days from raw rows (manage.py rollup_logs) ----------------------------------
def test_rollup_logs_rebuilds_past_days_from_raw_rows_written_before_rollups_existed():
    import io

    from django.core.management import call_command
    from django.core.management.base import CommandError
    from django.utils import timezone

    today = timezone.now().astimezone(datetime.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    first, last = (today - datetime.timedelta(days=2)).date(), (today - datetime.timedelta(days=1)).date()
    # Three hours from 22:00 two days ago into yesterday, written without rollups (before the upgrade).
    shift = today - datetime.timedelta(days=2) - START.replace(hour=0)
    older = [
        {**row, "time": row["time"] + shift, "project_uuid": str(row["project_uuid"])}
        for row in make_rows(200, seed=21)
    ]
    RequestLog.objects.bulk_create([RequestLog(**row) for row in older])
    untouched = make_rows(50, seed=22)  # a week earlier, with rollups: left as they are
    write_request_logs(
        [{**row, "time": row["time"] + shift - datetime.timedelta(days=7)} for row in untouched]
    )
    before = stored(HourlyRollup, "hour")
    out = io.StringIO()
    call_command("rollup_logs", "--since", str(first), "--until", str(last), stdout=out)
    assert out.getvalue().count("hourly rollup rows") == 2
    assert_rollups_match_raw()  # every hour, the rebuilt ones and the others
    assert {k: v for k, v in stored(HourlyRollup, "hour").items() if k in before} == before
    with pytest.raises(CommandError, match="before today"):
        call_command("rollup_logs", "--since", str(first), "--until", str(today.date()), stdout=out)
    with pytest.raises(CommandError, match="pruned"):
        call_command("rollup_logs", "--since", "2020-01-01", "--until", str(last), stdout=out)
