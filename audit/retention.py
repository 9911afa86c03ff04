"""Retention of the request log and its rollups: what is expired, and pruning it in bounded steps.

A pass first derives the daily rollup of the days that are over (rollups.py), then prunes.

`Pruner(now).steps()` yields after each bounded action (one DELETE of at most
PROMPTGATE_LOG_PRUNE_BATCH rows, one partition created or dropped), so a caller can interleave them
with other work: the request-log process runs one step between two batches (maintenance.py), and
`manage.py prune_logs` runs them all. `now` is a parameter: tests (and `--now`) control the clock.

- Raw rows older than PROMPTGATE_LOG_RETENTION_DAYS: on PostgreSQL whole daily partitions are dropped
  (no DELETE, no bloat, no VACUUM storm; audit/partitions.py) and partitions are made ahead; only the
  default partition's strays are deleted. On SQLite they are deleted in bounded batches.
- Rollups (hourly, daily, per project and day or month, per model and day) older than
  PROMPTGATE_ROLLUP_RETENTION_DAYS.
- A project's LogRetention may shorten either, never lengthen it: its rows between its own and the
  global horizon are deleted in bounded batches (the (project_uuid, time) index finds them).
- Ids of written batches older than a day (a batch is only ever re-sent within seconds).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction

from audit import partitions, rollups
from audit.models import (
    DailyRollup,
    HourlyRollup,
    LogRetention,
    ModelDailyRollup,
    ProjectDailyRollup,
    ProjectMonthlyRollup,
    RequestLog,
    RequestLogBatch,
)

BATCH_ID_DAYS = 1


@dataclass(frozen=True)
class Horizon:
    """Rows strictly older than these are expired (None: this project keeps the global horizon)."""

    logs: datetime.datetime
    rollups: datetime.datetime


def global_horizon(now: datetime.datetime) -> Horizon:
    return Horizon(
        logs=now - datetime.timedelta(days=settings.PROMPTGATE_LOG_RETENTION_DAYS),
        rollups=_day_start(now - datetime.timedelta(days=settings.PROMPTGATE_ROLLUP_RETENTION_DAYS)),
    )


def project_horizons(now: datetime.datetime) -> dict[str, Horizon]:
    """Per project with an override shorter than the global one: its own horizons (downwards only)."""
    base = global_horizon(now)
    out = {}
    for row in LogRetention.objects.all():
        logs = base.logs
        if row.log_days and row.log_days < settings.PROMPTGATE_LOG_RETENTION_DAYS:
            logs = now - datetime.timedelta(days=row.log_days)
        rollups = base.rollups
        if row.rollup_days and row.rollup_days < settings.PROMPTGATE_ROLLUP_RETENTION_DAYS:
            rollups = _day_start(now - datetime.timedelta(days=row.rollup_days))
        if (logs, rollups) != (base.logs, base.rollups):
            out[str(row.project_uuid)] = Horizon(logs, rollups)
    return out


def _day_start(at: datetime.datetime) -> datetime.datetime:
    return at.astimezone(datetime.UTC).replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass
class Report:
    """What a pass deleted (or, dry, would delete), per table, and the partitions it made or dropped."""

    deleted: dict[str, int] = field(default_factory=dict)
    partitions_created: list[str] = field(default_factory=list)
    partitions_dropped: list[str] = field(default_factory=list)
    days_derived: list[str] = field(default_factory=list)

    def add(self, name: str, count: int) -> None:
        self.deleted[name] = self.deleted.get(name, 0) + count

    def as_dict(self) -> dict[str, Any]:
        return {
            "deleted": dict(self.deleted),
            "partitions_created": list(self.partitions_created),
            "partitions_dropped": list(self.partitions_dropped),
            "daily_rollup_days_derived": list(self.days_derived),
        }


class Pruner:
    """One pass of retention at `now`; `steps()` does it one bounded action at a time."""

    def __init__(
        self, now: datetime.datetime, *, dry_run: bool = False, batch_size: int | None = None
    ) -> None:
        self.now = now
        self.dry_run = dry_run
        self.batch_size = batch_size or settings.PROMPTGATE_LOG_PRUNE_BATCH
        self.report = Report()

    def run(self) -> Report:
        for _ in self.steps():
            pass
        return self.report

    def steps(self) -> Iterator[str]:
        # Upkeep first: the daily rollup of the days that are over, one day a step (rollups.py).
        for day in rollups.days_to_derive(self.now):
            if not self.dry_run:
                rollups.derive_daily(day)
            self.report.days_derived.append(day.isoformat())
            yield f"derived {day}"
        base = global_horizon(self.now)
        if partitions.enabled(connection):
            yield from self._partition_steps(base.logs)
        yield from self._expire(RequestLog, "time", base.logs)
        rollup_day = base.rollups.date()
        yield from self._expire(HourlyRollup, "hour", base.rollups)
        yield from self._expire(DailyRollup, "day", rollup_day)
        yield from self._expire(ModelDailyRollup, "day", rollup_day)
        yield from self._expire_coarse(rollup_day)
        for project, horizon in project_horizons(self.now).items():
            if horizon.logs > base.logs:
                yield from self._expire(RequestLog, "time", horizon.logs, project)
            if horizon.rollups > base.rollups:
                yield from self._expire(HourlyRollup, "hour", horizon.rollups, project)
                yield from self._expire_project_days(project, horizon.rollups.date())
                yield from self._expire_coarse(horizon.rollups.date(), project)
        yield from self._expire(
            RequestLogBatch, "written_at", self.now - datetime.timedelta(days=BATCH_ID_DAYS), key="batch_id"
        )

    def _partition_steps(self, horizon: datetime.datetime) -> Iterator[str]:
        today = self.now.astimezone(datetime.UTC).date()
        ahead = settings.PROMPTGATE_LOG_PARTITIONS_AHEAD
        with connection.cursor() as cursor:
            existing = dict(partitions.daily_partitions(cursor))
        for offset in range(ahead + 1):
            day = today + datetime.timedelta(days=offset)
            if day not in existing.values():
                name = partitions.partition_name(day)
                if not self.dry_run:
                    with transaction.atomic(), connection.cursor() as cursor:
                        partitions.create(cursor, day)
                self.report.partitions_created.append(name)
                yield f"created {name}"
        for name, day in sorted(existing.items(), key=lambda item: item[1]):
            # A partition holds [day, day + 1): expired as a whole once its end is at the horizon.
            end = datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time.min, datetime.UTC)
            if end > horizon:
                continue
            if not self.dry_run:
                with transaction.atomic(), connection.cursor() as cursor:
                    partitions.drop(cursor, name)
            self.report.partitions_dropped.append(name)
            yield f"dropped {name}"

    def _expire_project_days(self, project: str, horizon: datetime.date) -> Iterator[str]:
        """One project's daily rows before `horizon`, then the model-day rows of the days they were in
        summed again (they count every project). After the first pass that is a day or so a pass."""
        doomed = DailyRollup.objects.filter(project_uuid=project, day__lt=horizon)
        span = doomed.aggregate(first=models.Min("day"), last=models.Max("day"))
        yield from self._expire(DailyRollup, "day", horizon, project)
        if span["first"] is not None and not self.dry_run:
            rollups.derive_model_days(span["first"], span["last"])
            yield f"summed the model days {span['first']}..{span['last']} again"

    def _expire_coarse(self, horizon: datetime.date, project: str | None = None) -> Iterator[str]:
        """The project-day rows before `horizon`, the months wholly before it, and the month it cuts
        summed again from the days it keeps (so a month's row always equals its days)."""
        yield from self._expire(ProjectDailyRollup, "day", horizon, project)
        month = rollups.month_of(horizon)
        yield from self._expire(ProjectMonthlyRollup, "month", month, project)
        if month < horizon and not self.dry_run:
            rollups.derive_month(month, project)
            yield f"summed {month:%Y-%m} again"

    def _expire(
        self,
        model: type[models.Model],
        column: str,
        horizon: Any,
        project: str | None = None,
        key: str = "id",
    ) -> Iterator[str]:
        """Delete `model`'s rows older than `horizon` (of one project, or all), a bounded batch a step."""
        rows = model._default_manager.filter(**{f"{column}__lt": horizon})
        if project is not None:
            rows = rows.filter(project_uuid=project)
        label = model._meta.label_lower.partition(".")[2]
        if self.dry_run:
            self.report.add(label, rows.count())
            yield f"counted {label}"
            return
        while True:
            with transaction.atomic():
                # `_raw_delete`: one DELETE … WHERE key IN (the next batch, oldest first) with the
                # horizon repeated, so PostgreSQL prunes partitions at plan time; no signals, no
                # collector (nothing cascades from these rows).
                batch = rows.order_by(column).values_list(key, flat=True)[: self.batch_size]
                doomed = model._default_manager.filter(**{f"{key}__in": batch, f"{column}__lt": horizon})
                count = doomed._raw_delete(doomed.db)
            self.report.add(label, count)
            yield f"deleted {count} {label}"
            if count < self.batch_size:
                return
