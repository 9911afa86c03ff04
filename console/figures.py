"""The dashboard's figures, read from the request-log rollups (never the raw rows, but for a bounded list
of the latest errors): traffic, errors, latency and spend per period, by gateway, the top projects,
models and tokens, upstream health and the budgets nearest their limit.

Windows: `1h` and `24h` read the hourly rollup (an hour is its finest grain, so "last hour" is the
current and previous hour buckets), `30d` reads usage.report's per-day merge of the daily and hourly
rollups (gateways/ai/usage.py).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.db.models import Sum
from django.urls import reverse

from audit import rollups
from audit.models import LATENCY_COLUMNS, DailyRollup, HourlyRollup, RequestLog
from audit.rollups import latency_summary
from gateways.ai import usage
from gateways.ai.models import UsageLimit
from projects.api.permissions import project_uuids_for

NANOS = Decimal(1_000_000_000)


@dataclass(frozen=True)
class Window:
    key: str
    label: str
    hourly: bool
    buckets: int

    def start(self, now: datetime.datetime) -> datetime.datetime:
        """The first bucket's start (UTC, on the hour or midnight)."""
        hour = now.astimezone(datetime.UTC).replace(minute=0, second=0, microsecond=0)
        if self.hourly:
            return hour - datetime.timedelta(hours=self.buckets - 1)
        return hour.replace(hour=0) - datetime.timedelta(days=self.buckets - 1)

    def step(self) -> datetime.timedelta:
        return datetime.timedelta(hours=1) if self.hourly else datetime.timedelta(days=1)


WINDOWS = {
    "1h": Window("1h", "Last hour", True, 2),
    "24h": Window("24h", "Last 24 hours", True, 24),
    "30d": Window("30d", "Last 30 days", False, 30),
}
DEFAULT_WINDOW = "24h"


def window_of(key: str | None) -> Window:
    return WINDOWS.get(key or "", WINDOWS[DEFAULT_WINDOW])


def logs_url(**params: Any) -> str:
    """The request-log search behind a figure: the management API's filter names (audit/admin.py), and
    `status__gte=400` (Django's own lookup) for errors of both classes."""
    query = {k: v for k, v in params.items() if v not in (None, "")}
    return reverse("admin:audit_requestlog_changelist") + ("?" + urlencode(query) if query else "")


def grouped(
    user: Any, window: Window, groups: tuple[str, ...], now: datetime.datetime, project: str = ""
) -> list[dict[str, Any]]:
    """Rollup sums per group over `window` (all gateways, or one project's), shaped like usage.report's rows."""
    since = window.start(now)
    if not window.hourly:
        params = {"gateway": "all", "since": since.date().isoformat(), "project": project}
        return usage.report(user, params, groups)
    hourly = usage.visible_rows(user, HourlyRollup).filter(hour__gte=since)
    if project:
        hourly = hourly.filter(project_uuid=project)
    fields = [usage.GROUPS[g] for g in groups]
    names = (*usage.SUMS, *LATENCY_COLUMNS)
    rows = hourly.values(*fields).annotate(**{name: Sum(name) for name in names}).order_by()
    out = []
    for row in rows:
        item: dict[str, Any] = {g: row[f] for g, f in zip(groups, fields, strict=True)}
        if "hour" in item:
            item["hour"] = item["hour"].isoformat()
        if "project" in item:
            item["project"] = str(item["project"])
        sums = {n: row[n] or 0 for n in names}
        item.update({name: sums[name] for name in usage.SUMS[:6]})
        item["cost"] = str((Decimal(sums["cost_nanos"]) / NANOS).normalize())
        item.update(latency_summary(sums))
        out.append(item)
    return out


def series(user: Any, window: Window, now: datetime.datetime, project: str = "") -> list[dict[str, Any]]:
    """One point per bucket of the window, oldest first, empty buckets as zeros."""
    period = "hour" if window.hourly else "day"
    rows = grouped(user, window, (period,), now, project)
    found = {item[period][: 19 if window.hourly else 10]: item for item in rows}
    start = window.start(now)
    points = []
    for i in range(window.buckets):
        at = start + i * window.step()
        key = at.isoformat()[:19] if window.hourly else at.date().isoformat()
        item = found.get(key, {})
        requests = item.get("requests", 0)
        points.append(
            {
                "at": at,
                "label": at.strftime("%H:%M") if window.hourly else at.strftime("%b %d"),
                "requests": requests,
                "errors": item.get("errors", 0),
                "error_rate": (100.0 * item.get("errors", 0) / requests) if requests else 0.0,
                "p50": item.get("latency_ms_p50") or 0.0,
                "p95": item.get("latency_ms_p95") or 0.0,
                "cost": float(item.get("cost") or 0),
                "logs": logs_url(
                    project=project, since=at.isoformat(), until=(at + window.step()).isoformat()
                ),
            }
        )
    return points


def overall(user: Any, window: Window, now: datetime.datetime, project: str = "") -> dict[str, Any]:
    """The window's totals; latency percentiles from the histograms summed over the whole window."""
    since = window.start(now)
    names = (*usage.SUMS, *LATENCY_COLUMNS)
    parts = []
    hourly = usage.visible_rows(user, HourlyRollup)
    if not window.hourly and (mark := rollups.derived_until()) is not None:
        daily = usage.visible_rows(user, DailyRollup).filter(day__gte=since.date(), day__lt=mark)
        parts.append(daily.filter(project_uuid=project) if project else daily)
        since = max(since, datetime.datetime.combine(mark, datetime.time.min, datetime.UTC))
    hourly = hourly.filter(hour__gte=since)
    parts.append(hourly.filter(project_uuid=project) if project else hourly)
    sums = dict.fromkeys(names, 0)
    for rows in parts:
        for name, value in rows.aggregate(**{n: Sum(n) for n in names}).items():
            sums[name] += value or 0
    requests = sums["requests"]
    return {
        "requests": requests,
        "errors": sums["errors"],
        "error_rate": (100.0 * sums["errors"] / requests) if requests else 0.0,
        "cost": Decimal(sums["cost_nanos"]) / NANOS,
        "tokens": sums["tokens_in"] + sums["tokens_out"],
        **latency_summary(sums),
    }


def top(
    user: Any, window: Window, group: str, now: datetime.datetime, limit: int = 5, project: str = ""
) -> list[dict[str, Any]]:
    rows = [r for r in grouped(user, window, (group,), now, project) if r.get(group)]
    rows.sort(key=lambda r: (-r["requests"], str(r[group])))
    return rows[:limit]


def recent_errors(user: Any, window: Window, now: datetime.datetime, limit: int = 10) -> list[RequestLog]:
    """The latest failed calls in the window: the one figure read from raw rows, bounded by `limit`."""

    rows = RequestLog.objects.filter(time__gte=window.start(now), status__gte=400)
    uuids = project_uuids_for(user, "read_logs")
    if uuids is not None:
        rows = rows.filter(project_uuid__in=uuids)
    return list(rows.order_by("-time")[:limit])


def budgets(user: Any, now: datetime.datetime, limit: int = 6) -> list[dict[str, Any]]:
    """Project and token budgets with today's and this month's spend (rollups), nearest the limit first."""

    limits = UsageLimit.objects.select_related("project", "token").exclude(
        daily_budget__isnull=True, monthly_budget__isnull=True
    )
    uuids = project_uuids_for(user, "read_logs")
    if uuids is not None:
        limits = limits.filter(project__uuid__in=uuids)
    today = now.astimezone(datetime.UTC).date()
    out: list[dict[str, Any]] = []
    for row in limits[:200]:
        params = {"gateway": "all", "project": str(row.project.uuid)}
        if row.token is not None:
            params["token"] = row.token.prefix
        for period, budget, since in (
            ("day", row.daily_budget, today),
            ("month", row.monthly_budget, today.replace(day=1)),
        ):
            if budget is None or budget <= 0:
                continue
            spent = Decimal(
                usage.totals(usage.report(user, {**params, "since": since.isoformat()}, ("project",)))["cost"]
            )
            out.append(
                {
                    "project": row.project,
                    "token": row.token,
                    "period": period,
                    "budget": budget,
                    "spent": spent,
                    "percent": float(100 * spent / budget),
                }
            )
    out.sort(key=lambda b: -b["percent"])
    return out[:limit]
