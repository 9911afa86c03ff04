"""Usage and cost per day (or hour), project, token, endpoint, provider and model, read from the rollups.

Read-only: the management API's `/manage/api/v1/usage/` (filters, choice of grouping) and the admin's
"Usage and cost" page (see usage_admin.py) both call `report`. Neither reads raw request-log rows:
each stretch of the range is read from the coarsest rollup that answers it (usage_levels.py: months,
project-days, days, hours), so a year of history is a few hundred rows whatever the traffic.
"""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal
from typing import Any

from django.db import connections
from django.db.models import F, Func, QuerySet, Sum, UUIDField
from django.db.models.functions import TruncDate
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import views
from rest_framework.request import Request
from rest_framework.response import Response

from audit import rollups
from audit.choices import Gateway
from audit.models import LATENCY_COLUMNS, DailyRollup, HourlyRollup, ModelDailyRollup, ProjectMonthlyRollup
from audit.rollups import latency_summary
from gateways.ai import usage_levels
from projects.api.base import ManagementViewMixin
from projects.api.permissions import project_uuids_for
from promptgate.errors import ErrorCode, PromptGateError

GROUPS = {
    "day": "day",
    "hour": "hour",
    "project": "project_uuid",
    "token": "token_prefix",
    "endpoint": "endpoint",
    "provider": "provider",
    "model": "model",
    "gateway": "gateway",
}
DEFAULT_GROUPS = ("day", "project", "token", "endpoint", "model")
GATEWAYS = tuple(Gateway.values)  # "ai", "http", "mcp", "meta"
MAX_ROWS = 5000
NANOS = Decimal(1_000_000_000)


def _date(value: str | None, name: str) -> datetime.date | None:
    if not value:
        return None
    try:
        return datetime.date.fromisoformat(value[:10])
    except ValueError:
        raise PromptGateError(
            f"{name} must be a date (YYYY-MM-DD)", code=ErrorCode.VALIDATION_ERROR
        ) from None


def filtered(rows: QuerySet[Any], params: dict[str, str]) -> QuerySet[Any]:
    """Rollup rows narrowed by the query's dimensions: gateway (default ai, or `all`), project (uuid),
    token (prefix), endpoint, provider, model. The days (since, until) are the plan's (usage_levels.py)."""
    gateway = params.get("gateway") or "ai"
    if gateway != "all":
        if gateway not in GATEWAYS:
            raise PromptGateError(
                f"gateway must be one of {', '.join(GATEWAYS)} or all", code=ErrorCode.VALIDATION_ERROR
            )
        rows = rows.filter(gateway=gateway)
    if params.get("project"):
        try:
            uuid.UUID(params["project"])
        except ValueError:
            raise PromptGateError("project must be a uuid", code=ErrorCode.VALIDATION_ERROR) from None
    for param, field in (
        ("project", "project_uuid"),
        ("token", "token_prefix"),
        ("endpoint", "endpoint"),
        ("provider", "provider"),
        ("model", "model"),
    ):
        if params.get(param):
            rows = rows.filter(**{field: params[param]})
    return rows


def _in_days(rows: QuerySet[Any], stretch: usage_levels.Stretch) -> QuerySet[Any]:
    """`rows` of the days [start, end) of `stretch` (by its level's period column)."""
    period = {HourlyRollup: "hour", ProjectMonthlyRollup: "month"}.get(stretch.level, "day")
    for bound, lookup in ((stretch.start, "gte"), (stretch.end, "lt")):
        if bound is not None:
            value: Any = bound
            if period == "hour":
                value = datetime.datetime.combine(bound, datetime.time.min, datetime.UTC)
            rows = rows.filter(**{f"{period}__{lookup}": value})
    return rows


def check_groups(groups: tuple[str, ...]) -> None:
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        raise PromptGateError(
            f"group_by accepts {', '.join(GROUPS)}; not {', '.join(unknown)}", code=ErrorCode.VALIDATION_ERROR
        )
    if "day" in groups and "hour" in groups:
        raise PromptGateError("group_by takes day or hour, not both", code=ErrorCode.VALIDATION_ERROR)


SUMS = (
    "requests",
    "errors",
    "bytes_in",
    "bytes_out",
    "tokens_in",
    "tokens_out",
    "cost_nanos",
    "latency_ms_sum",
)


def _sums(rows: QuerySet[Any], fields: list[str]) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Summed columns per group of `fields` (the histogram's buckets included).

    The ORM's SQL, read with a plain cursor: Django's per-value converters on 32 sums a group cost
    ~70% of a report of many groups (per day x project over a year); only the grouped values need
    theirs (dates and uuids), the sums are plain numbers (PostgreSQL's SUM of int8 is numeric)."""
    names = (*SUMS, *LATENCY_COLUMNS)
    qs = rows.values(*fields).annotate(**{name: Sum(name) for name in names}).order_by()
    compiler = qs.query.get_compiler(using=qs.db)
    sql, params = compiler.as_sql()
    selected = [expr for expr, _sql, _alias in compiler.select]
    labels = [alias or expr.target.attname for expr, _sql, alias in compiler.select]
    where = {label: i for i, label in enumerate(labels)}
    keys = [where[f] for f in fields]
    columns = [(n, where[n], float if n == "latency_ms_sum" else int) for n in names]
    converters = compiler.get_converters([selected[i] for i in keys])
    connection = connections[qs.db]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    out = {}
    for row in fetched:
        key = []
        for position, index in enumerate(keys):
            value = row[index]
            for convert in converters.get(position, ((), None))[0]:
                value = convert(value, selected[index], connection)
            key.append(value)
        out[tuple(key)] = {n: cast(row[i] or 0) for n, i, cast in columns}
    return out


def _hourly_grouping(rows: QuerySet[Any], fields: list[str]) -> tuple[QuerySet[Any], list[str]]:
    """SQLite groups the hourly rows by project through the (project_uuid, hour) index, reading the whole
    table to skip a sort (44 ms on a year's 255,000 hourly rows for a tail of one day); grouping by
    `+project_uuid` (SQLite's documented way to disqualify an index) lets it seek the hours instead."""
    if "project_uuid" not in fields or connections[rows.db].vendor != "sqlite":
        return rows, fields
    unindexed = Func(F("project_uuid"), template="+%(expressions)s", output_field=UUIDField())
    rows = rows.annotate(project_key=unindexed)
    return rows, ["project_key" if f == "project_uuid" else f for f in fields]


def _merged(
    user: Any,
    params: dict[str, str],
    fields: list[str],
    since: datetime.date | None,
    until: datetime.date | None,
    mark: datetime.date | None,
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The sums per group of the days [since, until], each stretch from its level, added up."""
    every_project = project_uuids_for(user, "read_logs") is None
    stretches = usage_levels.plan(fields, params, since, until, mark, every_project=every_project)
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for stretch in stretches:
        rows = _in_days(filtered(visible_rows(user, stretch.level), params), stretch)
        grouped = fields
        if stretch.level is HourlyRollup:
            if "hour" not in fields:
                rows = rows.annotate(day=TruncDate("hour", tzinfo=datetime.UTC))
            rows, grouped = _hourly_grouping(rows, fields)
        for key, sums in _sums(rows, grouped).items():
            total = merged.get(key)
            if total is None:
                merged[key] = sums
                continue
            for name, value in sums.items():
                total[name] += value
    return merged


NEWEST_DAYS_TRIES = 5  # widths 2, at most 8, 32, 128, 512 days
MAX_WINDOW_DAYS = 3660  # beyond ten years back: read the whole range


def _newest_days(
    user: Any,
    params: dict[str, str],
    fields: list[str],
    since: datetime.date | None,
    until: datetime.date | None,
    mark: datetime.date | None,
) -> dict[tuple[Any, ...], dict[str, Any]] | None:
    """Grouped by day (or hour) first and by more, the report shows the MAX_ROWS groups of the newest
    days: read the newest days only, widening the window until it holds MAX_ROWS groups. Every group of
    a day in the window is in it and every group outside is older, so the groups shown are the ones the
    whole range would show. None: the window reached the range's start (read the whole range).

    The default grouping (day, project, token, endpoint, model) over 30 days of 10 M rows has ~10,000
    groups a day: summing and sorting all ~300,000 in Python took seconds for the 5,000 shown
    (bench/results/request-logs-10m.md)."""
    if len(fields) < 2 or fields[0] not in ("day", "hour"):
        return None  # one group per day at most: the whole range is small
    last = until or datetime.datetime.now(datetime.UTC).date()
    width = 2  # today is partial: with yesterday, the groups per day estimate the next width better
    for _ in range(NEWEST_DAYS_TRIES):
        if width > MAX_WINDOW_DAYS:
            return None
        start = last - datetime.timedelta(days=width - 1)
        if since is not None and start <= since:
            return None
        merged = _merged(user, params, fields, start, until, mark)
        if len(merged) >= MAX_ROWS:
            return merged
        per_day = max(len(merged), 1) / width
        width = min(max(2 * width, int(1.25 * MAX_ROWS / per_day) + 1), 4 * width)
    return None


def report(
    user: Any, params: dict[str, str], groups: tuple[str, ...] = DEFAULT_GROUPS
) -> list[dict[str, Any]]:
    """One row per group: requests, errors, bytes, tokens, cost (USD) and latency (mean, p50/p95/p99 from
    the summed histograms), newest first, from the coarsest rollups that answer (usage_levels.py): the
    monthly and project-day ones for long ranges, the hourly one for the days not derived yet."""
    check_groups(groups)
    fields = [GROUPS[g] for g in groups]
    since, until = _date(params.get("since"), "since"), _date(params.get("until"), "until")
    mark = rollups.derived_until()
    merged = _newest_days(user, params, fields, since, until, mark)
    if merged is None:
        merged = _merged(user, params, fields, since, until, mark)
    ordered = list(merged.items())
    for position in reversed(range(len(fields))):  # stable sorts, last field first: period newest first
        newest_first = fields[position] in ("day", "hour")
        ordered.sort(key=lambda item: item[0][position], reverse=newest_first)
    out = []
    for key, sums in ordered[:MAX_ROWS]:
        item: dict[str, Any] = dict(zip(groups, key, strict=True))
        for period in ("day", "hour"):
            if item.get(period) is not None:
                item[period] = item[period].isoformat()
        if "project" in item:
            item["project"] = str(item["project"])
        item.update({name: sums[name] for name in SUMS[:6]})
        item["cost"] = _usd(sums["cost_nanos"])
        item.update(latency_summary(sums))
        out.append(item)
    return out


def _usd(nanos: int | None) -> str:
    return _plain(Decimal(nanos or 0) / NANOS)


def _plain(value: Decimal) -> str:
    """Dollars without trailing zeros and without an exponent (100, not 1E+2)."""
    value = value.normalize()
    return str(value.quantize(Decimal(1)) if value == value.to_integral() else value)


def totals(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "requests": sum(i["requests"] for i in items),
        "errors": sum(i["errors"] for i in items),
        "tokens_in": sum(i["tokens_in"] for i in items),
        "tokens_out": sum(i["tokens_out"] for i in items),
        "cost": _plain(sum((Decimal(i["cost"]) for i in items), Decimal(0))),
    }


def visible_rows(user: Any, model: usage_levels.Level = DailyRollup) -> QuerySet[Any]:
    """The rollup rows `user` may read (superusers: all; others: projects where they read logs)."""
    uuids = project_uuids_for(user, "read_logs")
    if uuids is None:
        return model.objects.all()
    if issubclass(model, ModelDailyRollup):  # usage_levels.plan picks it for readers of every project only
        raise ValueError("the model days have no project: not for a reader of some projects")
    return model.objects.filter(project_uuid__in=uuids)


class UsageView(ManagementViewMixin, views.APIView):
    """Usage and cost per day or hour, project, token, endpoint, provider and model (read-only), from
    the rollups; the AI gateway's unless `gateway` says otherwise."""

    @extend_schema(
        parameters=[
            OpenApiParameter("project", OpenApiTypes.UUID, description="Project uuid."),
            OpenApiParameter("token", OpenApiTypes.STR, description="Token prefix."),
            OpenApiParameter("endpoint", OpenApiTypes.STR, description="chat.completions, embeddings, …"),
            OpenApiParameter("provider", OpenApiTypes.STR),
            OpenApiParameter("model", OpenApiTypes.STR),
            OpenApiParameter(
                "gateway", OpenApiTypes.STR, description="ai (default), http, mcp, meta or all."
            ),
            OpenApiParameter("since", OpenApiTypes.DATE, description="From this day (UTC)."),
            OpenApiParameter("until", OpenApiTypes.DATE, description="Up to this day included (UTC)."),
            OpenApiParameter(
                "group_by",
                OpenApiTypes.STR,
                description=f"Comma list of {', '.join(GROUPS)} (default: {','.join(DEFAULT_GROUPS)}).",
            ),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request: Request) -> Response:
        params = {k: str(v) for k, v in request.query_params.items()}
        raw_groups = params.get("group_by")
        groups = (
            tuple(g.strip() for g in raw_groups.split(",") if g.strip()) if raw_groups else DEFAULT_GROUPS
        )
        items = report(request.user, params, groups)
        return Response({"group_by": list(groups), "results": items, "totals": totals(items)})


urlpatterns = [path("usage/", UsageView.as_view(), name="ai-usage")]
