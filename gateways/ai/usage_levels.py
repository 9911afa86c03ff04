"""Which rollup answers which part of a usage question: the coarsest level that can, per stretch of days.

Levels, coarsest first (audit/models.py, derived in audit/rollups.py):

- ProjectMonthlyRollup: per month, project and gateway. Serves the whole months of the range when the
  question neither groups by day nor asks for a token, endpoint, provider or model. Only months wholly
  derived before the derivation mark (so a month's row never overlaps the hourly tail).
- ProjectDailyRollup: per day, project and gateway; the derived days the months do not cover.
- ModelDailyRollup: per day, gateway, provider and model over every project; the derived days when
  the question groups or filters by provider or model but by nothing of a project (project, token,
  endpoint), for a reader who sees every project (the level has no project to narrow by).
- DailyRollup: per day and every dimension; the derived days when a token, endpoint, provider or
  model is grouped by or filtered on (and the model days do not answer).
- HourlyRollup: the days from the mark on (today, and yesterday during DERIVE_GRACE: under ~2 days),
  or the whole range when grouped by hour.

Each stretch is a half-open range of days; the report sums what each one answers (gateways/ai/usage.py).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from audit import rollups
from audit.models import (
    COARSE_DIMENSIONS,
    MODEL_DIMENSIONS,
    DailyRollup,
    HourlyRollup,
    ModelDailyRollup,
    ProjectDailyRollup,
    ProjectMonthlyRollup,
)

Level = (
    type[HourlyRollup]
    | type[DailyRollup]
    | type[ProjectDailyRollup]
    | type[ProjectMonthlyRollup]
    | type[ModelDailyRollup]
)
FINE_FILTERS = {"token": "token_prefix", "endpoint": "endpoint", "provider": "provider", "model": "model"}
PROJECT_FILTERS = ("project", "token", "endpoint")  # what the model days cannot narrow by


@dataclass(frozen=True)
class Stretch:
    """Days [start, end) (None: unbounded) answered by `level`."""

    level: Level
    start: datetime.date | None
    end: datetime.date | None


def plan(
    fields: list[str],
    params: dict[str, str],
    since: datetime.date | None,
    until: datetime.date | None,
    mark: datetime.date | None,
    *,
    every_project: bool = False,
) -> list[Stretch]:
    """The stretches of [since, until] (days, both included) and the level that answers each.

    `fields`: the rollup fields grouped by ("day", "hour", "project_uuid", …); `mark`: the first day
    not derived yet (audit/rollups.py `derived_until`); `every_project`: the reader sees every project
    (only then may the model days, which have no project, answer)."""
    end = until + datetime.timedelta(days=1) if until is not None else None
    if "hour" in fields:
        return [Stretch(HourlyRollup, since, end)]
    out: list[Stretch] = []
    if mark is not None and (since is None or since < mark):
        derived_end = mark if end is None else min(end, mark)
        coarse = set(fields) - {"day"} <= set(COARSE_DIMENSIONS) and not any(
            params.get(p) for p in FINE_FILTERS
        )
        per_model = (
            every_project
            and set(fields) - {"day"} <= set(MODEL_DIMENSIONS)
            and not any(params.get(p) for p in PROJECT_FILTERS)
        )
        if not coarse:
            out.append(Stretch(ModelDailyRollup if per_model else DailyRollup, since, derived_end))
        elif "day" in fields:
            out.append(Stretch(ProjectDailyRollup, since, derived_end))
        else:
            out.extend(_months_and_days(since, derived_end))
    hourly_start = mark if mark is not None and (since is None or since < mark) else since
    if end is None or hourly_start is None or hourly_start < end:
        out.append(Stretch(HourlyRollup, hourly_start, end))
    return out


def _months_and_days(start: datetime.date | None, end: datetime.date) -> list[Stretch]:
    """Whole months of [start, end) from the monthly rollup, the days at either edge from the daily one."""
    first = None
    if start is not None:
        first = start if start.day == 1 else rollups.next_month(rollups.month_of(start))
    last = rollups.month_of(end)  # months wholly before `end` start before this
    if first is not None and first >= last:
        return [Stretch(ProjectDailyRollup, start, end)]
    out = [Stretch(ProjectMonthlyRollup, first, last)]
    if start is not None and first is not None and start < first:
        out.append(Stretch(ProjectDailyRollup, start, first))
    if last < end:
        out.append(Stretch(ProjectDailyRollup, last, end))
    return out
