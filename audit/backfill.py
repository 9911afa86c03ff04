"""Rebuild the rollups of past days from the raw rows (`manage.py rollup_logs`): the history written
before the rollups existed (an upgrade), or a repair.

One UTC day at a time, in one transaction: the day's hourly rows are replaced by the raw rows' sums
(grouped in the database, histogram buckets included), then its daily rows are derived again. Only
days before today (today's hours still receive batches: replacing them would race the writers) and
within the raw rows' retention (a pruned day's rollups are all that is left of it: never replaced).
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, ExpressionWrapper, F, IntegerField, Q, Sum
from django.db.models.functions import TruncHour

from audit import rollups
from audit.models import LATENCY_BUCKETS_MS, LATENCY_COLUMNS, ROLLUP_DIMENSIONS, HourlyRollup, RequestLog

NANOS = Decimal(1_000_000_000)


def _bucket_counts() -> dict[str, Count]:
    counts = {}
    for i, column in enumerate(LATENCY_COLUMNS):
        within = Q(latency_ms__lte=LATENCY_BUCKETS_MS[i]) if i < len(LATENCY_COLUMNS) - 1 else Q()
        if i:
            within &= Q(latency_ms__gt=LATENCY_BUCKETS_MS[i - 1])
        counts[column] = Count("id", filter=within)
    return counts


def rebuild_day(day: datetime.date) -> int:
    """Replace `day`'s rollups with the sums of its raw rows; returns the hourly rows written."""
    start = datetime.datetime.combine(day, datetime.time.min, datetime.UTC)
    end = start + datetime.timedelta(days=1)
    grouped = (
        RequestLog.objects.filter(time__gte=start, time__lt=end)
        .annotate(
            hour=TruncHour("time", tzinfo=datetime.UTC),
            status_class=ExpressionWrapper(F("status") / 100, output_field=IntegerField()),
        )
        .values("hour", *ROLLUP_DIMENSIONS)
        .annotate(
            requests=Count("id"),
            errors=Count("id", filter=Q(status__gte=400)),
            bytes_in=Sum("bytes_in"),
            bytes_out=Sum("bytes_out"),
            tokens_in=Sum("tokens_in"),
            tokens_out=Sum("tokens_out"),
            cost=Sum("cost"),
            latency_ms_sum=Sum("latency_ms"),
            **_bucket_counts(),
        )
        .order_by()
    )
    with transaction.atomic():
        HourlyRollup.objects.filter(hour__gte=start, hour__lt=end)._raw_delete(HourlyRollup.objects.db)
        rows = []
        for group in grouped.iterator(chunk_size=2000):
            cost = group.pop("cost")
            group = {k: (0 if v is None else v) for k, v in group.items()}  # SUM of no value: NULL
            rows.append(HourlyRollup(**group, cost_nanos=int((cost or 0) * NANOS)))
        HourlyRollup.objects.bulk_create(rows, batch_size=500)
        rollups.derive_daily(day, advance=False)  # the next retention pass derives it too if due
    return len(rows)


def days_between(since: datetime.date, until: datetime.date) -> list[datetime.date]:
    return [since + datetime.timedelta(days=n) for n in range((until - since).days + 1)]
