"""PostgreSQL: the request log partitioned by day; partitions made ahead and dropped when expired.

These run in the PostgreSQL pass of the suite (`.ci/run` runs it on both databases); SQLite has no
partitions (its retention is tests/audit/test_retention.py)."""

from __future__ import annotations

import datetime
import uuid

import pytest
from django.db import connection

from audit import partitions
from audit.models import RequestLog
from audit.retention import Pruner
from gateways.common.logrows import write_request_logs

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="partitions are PostgreSQL's"),
]

PROJECT = str(uuid.uuid4())


def where(path: str) -> str:
    """The partition that holds the row with this path."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM audit_requestlog WHERE path = %s", [path])
        return cursor.fetchone()[0]


def days() -> list[datetime.date]:
    with connection.cursor() as cursor:
        return [day for _, day in partitions.daily_partitions(cursor)]


def row(at: datetime.datetime, path: str) -> dict[str, object]:
    return {"time": at, "project_uuid": PROJECT, "gateway": "http", "status": 200, "path": path}


def test_the_request_log_is_partitioned_by_day_with_its_indexes_on_every_partition():
    assert partitions.enabled(connection)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
            "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'audit_requestlog'::regclass AND i.indisprimary"
        )
        assert sorted(r[0] for r in cursor.fetchall()) == ["id", "time"]
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'audit_requestlog'")
        names = {r[0] for r in cursor.fetchall()}
    assert {"audit_reqlog_endpoint", "audit_reqlog_token", "audit_reqlog_errors"} <= names
    now = datetime.datetime.now(datetime.UTC)
    Pruner(now).run()  # today's partition and the ones ahead exist
    write_request_logs([row(now, "/today")])
    assert where("/today") == partitions.partition_name(now.date())
    created = RequestLog.objects.create(
        time=now, project_uuid=PROJECT, gateway="http", status=201, path="/orm"
    )
    assert created.pk and RequestLog.objects.get(path="/orm").pk == created.pk  # the ORM's INSERT … RETURNING


def test_partitions_are_made_ahead_and_expired_ones_dropped_without_delete(settings):
    settings.PROMPTGATE_LOG_RETENTION_DAYS = 30
    settings.PROMPTGATE_LOG_PARTITIONS_AHEAD = 3
    real = datetime.datetime.now(datetime.UTC)
    Pruner(real).run()
    write_request_logs([row(real, "/real-today")])
    later = real + datetime.timedelta(days=40)  # the clock moves on 40 days
    # A row for a day that has no partition yet lands in the default partition…
    write_request_logs([row(later + datetime.timedelta(days=2), "/ahead"), row(later, "/later")])
    assert where("/ahead") == partitions.DEFAULT
    dry = Pruner(later, dry_run=True)
    dry.run()
    assert partitions.partition_name(real.date()) in dry.report.partitions_dropped
    assert where("/real-today") == partitions.partition_name(real.date())  # a dry run changes nothing

    pruner = Pruner(later)
    pruner.run()
    expected = [later.date() + datetime.timedelta(days=n) for n in range(4)]
    assert [d for d in days() if d >= later.date()] == expected
    # … and moves into it when it is made.
    assert where("/ahead") == partitions.partition_name(later.date() + datetime.timedelta(days=2))
    assert where("/later") == partitions.partition_name(later.date())
    # Every partition whose whole day is past the horizon is gone, its rows with it, with no DELETE.
    horizon = later - datetime.timedelta(days=30)
    assert all(
        datetime.datetime.combine(d + datetime.timedelta(days=1), datetime.time.min, datetime.UTC) > horizon
        for d in days()
    )
    assert partitions.partition_name(real.date()) in pruner.report.partitions_dropped
    assert not RequestLog.objects.filter(path="/real-today").exists()
    assert pruner.report.deleted.get("requestlog", 0) == 0
    with pytest.raises(ValueError):
        partitions.drop(connection.cursor(), "audit_auditlog")
