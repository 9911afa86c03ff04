"""The raw-log search's first page over a year of PostgreSQL daily partitions, with and without the
windows of newest days (audit/api/keyset.py). Planning, not rows, is what the windows save, so a year of
partitions with ~88,000 rows shows it; run it on a scratch database of its own:

    createdb pg_search_windows
    DEBUG=true DATABASE_URL=postgres://postgres@127.0.0.1:5432/pg_search_windows python manage.py migrate
    DEBUG=true DATABASE_URL=postgres://postgres@127.0.0.1:5432/pg_search_windows python -m bench.search_windows
"""

from __future__ import annotations

import datetime
import os
import statistics
import time
import uuid
from typing import Any

import django

ROWS_PER_HOUR = 10
BUSY, QUIET = uuid.UUID(int=7), uuid.UUID(int=99)  # three rows an hour, and none


def load() -> None:
    # Imported here: Django is set up at run time.
    from django.db import connection, transaction
    from django.utils import timezone

    from audit import partitions
    from gateways.common.logrows import write_request_logs

    now = timezone.now()
    with connection.cursor() as cursor:
        existing = {day for _, day in partitions.daily_partitions(cursor)}
    for back in range(366):
        day = now.date() - datetime.timedelta(days=back)
        if day not in existing:
            with transaction.atomic(), connection.cursor() as cursor:
                partitions.create(cursor, day)
    rows: list[Any] = []
    for back in range(366 * 24):
        at = now - datetime.timedelta(hours=back)
        for i in range(ROWS_PER_HOUR):
            rows.append(
                {
                    "time": at,
                    "project_uuid": BUSY if i < 3 else uuid.UUID(int=8 + i),
                    "gateway": "ai",
                    "endpoint": "chat.completions",
                    "status": 502 if i == 0 else 200,
                    "request_id": f"{back}-{i}",
                }
            )
        if len(rows) >= 5000:
            write_request_logs(rows, rollups=False)
            rows = []
    write_request_logs(rows, rollups=False)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE audit_requestlog")


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "promptgate.settings")
    django.setup()
    # Imported here: Django is set up at run time.
    from django.db import connection

    from audit import partitions
    from audit.api import keyset
    from audit.api.filters import RequestLogFilter
    from audit.models import RequestLog

    if not partitions.enabled(connection):
        raise SystemExit("a PostgreSQL database with the partitioned request log is needed")
    if not RequestLog.objects.exists():
        load()
    with connection.cursor() as cursor:
        print(f"partitions: {len(partitions.daily_partitions(cursor))}, rows: {RequestLog.objects.count()}")
    questions = {
        "busy project + chat.completions + 5xx": {"project": str(BUSY), "endpoint": "chat.completions"}
        | {"status": "5xx"},
        "a project without rows": {"project": str(QUIET)},
    }
    for label, params in questions.items():
        rows = RequestLogFilter(params, queryset=RequestLog.objects.all()).qs
        for side, on in (("whole range", False), ("windows", True)):
            keyset.windowed = lambda queryset, on=on: on  # type: ignore[misc]  # a bench's switch
            times = []
            for _ in range(7):
                began = time.perf_counter()
                page = keyset.newest_first(rows, None, 51)
                times.append((time.perf_counter() - began) * 1000)
            print(f"{label}, {side}: {statistics.median(times):.1f} ms a first page ({len(page)} rows)")


if __name__ == "__main__":
    main()
