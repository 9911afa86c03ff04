"""Retention with a controllable clock: raw rows, rollups, per-project overrides, bounded steps, the
`prune_logs` command, the lease that lets one process prune at a time, and pruning on its own."""

from __future__ import annotations

import datetime
import io
import json
import time
import uuid

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from audit import partitions
from audit.maintenance import LEASE, Maintenance, finish_pass, take_lease
from audit.models import (
    DailyRollup,
    HourlyRollup,
    LogRetention,
    MaintenanceLease,
    ModelDailyRollup,
    ProjectDailyRollup,
    ProjectMonthlyRollup,
    RequestLog,
    RequestLogBatch,
)
from audit.retention import Pruner
from gateways.common.log_process import RequestLogProcess
from gateways.common.logrows import write_request_logs

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime.datetime(2027, 3, 10, 12, 0, tzinfo=datetime.UTC)  # the clock every pass here runs at
A, B = str(uuid.uuid4()), str(uuid.uuid4())


def days_ago(days: float) -> datetime.datetime:
    return NOW - datetime.timedelta(days=days)


def write(project: str, days: float, n: int = 1) -> None:
    at = days_ago(days)
    rows = [{"time": at, "project_uuid": project, "gateway": "http", "status": 200} for _ in range(n)]
    write_request_logs(rows)


def ages(model: type, field: str, project: str) -> list[int]:
    """Distinct ages in whole days of `project`'s rows, youngest first."""
    values = model.objects.filter(project_uuid=project).values_list(field, flat=True).distinct()
    out = set()
    for value in values:
        at = (
            value
            if isinstance(value, datetime.datetime)
            else datetime.datetime.combine(value, datetime.time.min, datetime.UTC)
        )
        out.add((NOW - at).days)
    return sorted(out)


@pytest.fixture
def history(settings):
    settings.PROMPTGATE_LOG_RETENTION_DAYS = 30
    settings.PROMPTGATE_ROLLUP_RETENTION_DAYS = 400
    for project in (A, B):
        for days in (1, 10, 29, 31, 45, 399, 401):
            write(project, days, n=3)


def test_a_pass_removes_what_is_older_than_each_horizon_in_bounded_steps(history):
    pruner = Pruner(NOW, batch_size=4)
    steps = list(pruner.steps())
    for project in (A, B):
        assert ages(RequestLog, "time", project) == [1, 10, 29]  # 30 days of raw rows
        assert ages(HourlyRollup, "hour", project) == [1, 10, 29, 31, 45, 399]  # 400 days of rollups
        assert ages(DailyRollup, "day", project) == [1, 10, 29, 31, 45, 399]
        assert ages(ProjectDailyRollup, "day", project) == [1, 10, 29, 31, 45, 399]
        assert_months_equal_their_days(project)
    assert_model_days_equal_the_daily_rows()
    # 4 expired ages x 2 projects x 3 rows = 24 raw rows, at most 4 per DELETE.
    assert pruner.report.deleted["requestlog"] == 24
    assert len([s for s in steps if s.endswith(" requestlog")]) >= 24 // 4
    assert pruner.report.deleted["hourlyrollup"] == 2 and pruner.report.deleted["dailyrollup"] == 2
    assert Pruner(NOW).run().deleted == {
        "requestlog": 0,
        "hourlyrollup": 0,
        "dailyrollup": 0,
        "projectdailyrollup": 0,
        "projectmonthlyrollup": 0,
        "modeldailyrollup": 0,
        "requestlogbatch": 0,
    }


def test_a_project_may_keep_less_never_more(history):
    LogRetention.objects.create(project_uuid=A, log_days=7, rollup_days=40)
    LogRetention.objects.create(project_uuid=B, log_days=90, rollup_days=1000)  # longer: ignored
    Pruner(NOW, batch_size=2).run()
    assert ages(RequestLog, "time", A) == [1]
    assert ages(HourlyRollup, "hour", A) == [1, 10, 29, 31]
    assert ages(DailyRollup, "day", A) == [1, 10, 29, 31]
    assert ages(ProjectDailyRollup, "day", A) == [1, 10, 29, 31]
    assert ages(RequestLog, "time", B) == [1, 10, 29]
    assert ages(DailyRollup, "day", B) == [1, 10, 29, 31, 45, 399]
    assert ages(ProjectDailyRollup, "day", B) == [1, 10, 29, 31, 45, 399]
    for project in (A, B):
        assert_months_equal_their_days(project)
    # The model days count every project: A's expired days (45 and 399 days ago) now hold B's alone.
    assert_model_days_equal_the_daily_rows()
    assert {
        (NOW.date() - day).days: n for day, n in ModelDailyRollup.objects.values_list("day", "requests")
    } == {
        1: 6,
        10: 6,
        29: 6,
        31: 6,
        45: 3,
        399: 3,
    }


def assert_model_days_equal_the_daily_rows() -> None:
    """Each model-day row is the sum of the daily rows of its day, gateway, provider and model."""
    sums: dict[tuple, int] = {}
    for key in DailyRollup.objects.values_list("day", "gateway", "provider", "model", "requests"):
        sums[key[:4]] = sums.get(key[:4], 0) + key[4]
    stored = ModelDailyRollup.objects.values_list("day", "gateway", "provider", "model", "requests")
    assert {key[:4]: key[4] for key in stored} == sums and sums


def assert_months_equal_their_days(project: str) -> None:
    """The monthly rollup's rows are the sums of the project-day rows retention kept (a month the
    horizon cuts is summed again), and nothing else."""
    days: dict[datetime.date, int] = {}
    for day, requests in ProjectDailyRollup.objects.filter(project_uuid=project).values_list(
        "day", "requests"
    ):
        days[day.replace(day=1)] = days.get(day.replace(day=1), 0) + requests
    months = ProjectMonthlyRollup.objects.filter(project_uuid=project).values_list("month", "requests")
    assert dict(months) == days and days


def test_dry_run_counts_and_changes_nothing(history):
    raw, hourly = RequestLog.objects.count(), HourlyRollup.objects.count()
    out = io.StringIO()
    call_command("prune_logs", "--dry-run", "--now", NOW.isoformat(), stdout=out)
    report = json.loads(out.getvalue())
    assert report["dry_run"] is True and report["deleted"]["requestlog"] == 24
    assert report["deleted"]["hourlyrollup"] == 2
    assert (RequestLog.objects.count(), HourlyRollup.objects.count()) == (raw, hourly)


def test_prune_logs_command_prunes_and_refuses_while_another_process_prunes(history):
    take_lease("someone-else", NOW + datetime.timedelta(days=3650), NOW)  # pruning, and not expired
    with pytest.raises(CommandError, match="another process is pruning"):
        call_command("prune_logs", "--now", NOW.isoformat(), stdout=io.StringIO())
    MaintenanceLease.objects.all().delete()
    out = io.StringIO()
    call_command("prune_logs", "--now", NOW.isoformat(), "--batch-size", "5", stdout=out)
    assert json.loads(out.getvalue())["deleted"]["requestlog"] == 24
    assert ages(RequestLog, "time", A) == [1, 10, 29]
    assert MaintenanceLease.objects.get(name=LEASE).holder == "next-pass"
    with pytest.raises(CommandError, match="ISO 8601"):
        call_command("prune_logs", "--now", "yesterday", stdout=io.StringIO())


def test_old_batch_ids_are_forgotten():
    write_request_logs([{"time": NOW, "project_uuid": A, "gateway": "http", "status": 200}], "old")
    RequestLogBatch.objects.filter(batch_id="old").update(written_at=days_ago(2))
    write_request_logs([{"time": NOW, "project_uuid": A, "gateway": "http", "status": 200}], "new")
    RequestLogBatch.objects.filter(batch_id="new").update(written_at=NOW)
    Pruner(NOW).run()
    assert list(RequestLogBatch.objects.values_list("batch_id", flat=True)) == ["new"]


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_process_prunes_at_a_time_and_the_next_pass_waits_for_the_interval(history, settings):
    settings.PROMPTGATE_LOG_PRUNE_BATCH = 3
    ticks = Ticks()

    def wall() -> datetime.datetime:  # moves with the monotonic clock; old rows stay old enough
        return NOW + datetime.timedelta(seconds=ticks.now - 1000)

    first = Maintenance(3600, clock=wall, monotonic=ticks)
    second = Maintenance(3600, clock=wall, monotonic=ticks)
    assert first.step() is False  # not due yet: the first pass waits a few seconds after start
    ticks.now += 10
    assert first.step() is True  # first holds the lease: one bounded step done, more to do
    assert second.step() is False  # refused while first holds it
    while first.step():
        pass
    assert first.passes == 1 and ages(RequestLog, "time", A) == [1, 10, 29]
    ticks.now += 120
    assert second.step() is False  # the pass is done, and the next is due only an hour later
    write(A, 50)
    ticks.now += 3600
    while second.step() or second._pass is not None:
        pass
    assert second.passes == 1 and ages(RequestLog, "time", A) == [1, 10, 29]


def test_a_lease_whose_holder_died_is_taken_after_it_expires():
    assert take_lease("a", NOW + datetime.timedelta(seconds=300), NOW)
    assert not take_lease("b", NOW + datetime.timedelta(seconds=300), NOW + datetime.timedelta(seconds=299))
    assert take_lease("b", NOW + datetime.timedelta(seconds=900), NOW + datetime.timedelta(seconds=301))
    finish_pass("b", NOW + datetime.timedelta(hours=1))
    assert not take_lease("c", NOW + datetime.timedelta(hours=2), NOW + datetime.timedelta(seconds=400))
    assert take_lease(
        "c", NOW + datetime.timedelta(hours=2), NOW + datetime.timedelta(seconds=400), early=True
    )


def test_the_request_log_process_prunes_on_its_own(monkeypatch, settings):
    """No cron: a request-log process runs a pass shortly after it starts, between batches."""
    monkeypatch.setenv("PROMPTGATE_LOG_PRUNE_INTERVAL_SECONDS", "1")
    now = datetime.datetime.now(datetime.UTC)
    old = now - datetime.timedelta(days=settings.PROMPTGATE_LOG_RETENTION_DAYS + 5)
    write_request_logs([{"time": old, "project_uuid": A, "gateway": "http", "status": 200, "path": "/old"}])
    child = RequestLogProcess()
    try:
        child([{"time": now, "project_uuid": A, "gateway": "http", "status": 200, "path": "/new"}])
        deadline = time.monotonic() + 60
        while RequestLog.objects.filter(path="/old").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        child.close()
    assert list(RequestLog.objects.values_list("path", flat=True)) == ["/new"]
    if connection.vendor == "postgresql":  # and it keeps the partitions ahead
        with connection.cursor() as cursor:
            days = {day for _, day in partitions.daily_partitions(cursor)}
        assert now.date() + datetime.timedelta(days=settings.PROMPTGATE_LOG_PARTITIONS_AHEAD) in days
