"""Usage and cost per day (or hour), project, token, endpoint, provider and model, read from the rollups.

Read-only: the management API's `/manage/api/v1/usage/` (filters, choice of grouping) and the admin's
"Usage and cost" page (see usage_admin.py) both call `report`. Neither reads raw request-log rows:
the daily rollup answers for the days it has been derived for, the hourly one after them and when
grouped by hour, so a year of history is a few hundred rows per key whatever the traffic
(audit/rollups.py).
"""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet, Sum
from django.db.models.functions import TruncDate
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import views
from rest_framework.request import Request
from rest_framework.response import Response

from audit import rollups
from audit.models import LATENCY_COLUMNS, DailyRollup, HourlyRollup
from audit.rollups import latency_summary
from projects.api.base import ManagementViewMixin
from projects.api.permissions import project_uuids_for
from promptgate.errors import PromptGateError

Rollup = DailyRollup | HourlyRollup
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
GATEWAYS = ("ai", "http", "mcp", "meta")
MAX_ROWS = 5000
NANOS = Decimal(1_000_000_000)


def _date(value: str | None, name: str) -> datetime.date | None:
    if not value:
        return None
    try:
        return datetime.date.fromisoformat(value[:10])
    except ValueError:
        raise PromptGateError(f"{name} must be a date (YYYY-MM-DD)", code="validation_error") from None


def filtered(rows: QuerySet[Any], params: dict[str, str]) -> QuerySet[Any]:
    """Rollup rows narrowed by the query: gateway (default ai, or `all`), project (uuid), token
    (prefix), endpoint, provider, model, since, until (days, UTC, both included)."""
    gateway = params.get("gateway") or "ai"
    if gateway != "all":
        if gateway not in GATEWAYS:
            raise PromptGateError(
                f"gateway must be one of {', '.join(GATEWAYS)} or all", code="validation_error"
            )
        rows = rows.filter(gateway=gateway)
    if params.get("project"):
        try:
            uuid.UUID(params["project"])
        except ValueError:
            raise PromptGateError("project must be a uuid", code="validation_error") from None
    for param, field in (
        ("project", "project_uuid"),
        ("token", "token_prefix"),
        ("endpoint", "endpoint"),
        ("provider", "provider"),
        ("model", "model"),
    ):
        if params.get(param):
            rows = rows.filter(**{field: params[param]})
    since, until = _date(params.get("since"), "since"), _date(params.get("until"), "until")
    if rows.model is DailyRollup:
        if since:
            rows = rows.filter(day__gte=since)
        if until:
            rows = rows.filter(day__lte=until)
        return rows
    if since:
        rows = rows.filter(hour__gte=datetime.datetime.combine(since, datetime.time.min, datetime.UTC))
    if until:
        rows = rows.filter(
            hour__lt=datetime.datetime.combine(until, datetime.time.min, datetime.UTC)
            + datetime.timedelta(days=1)
        )
    return rows


def check_groups(groups: tuple[str, ...]) -> None:
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        raise PromptGateError(
            f"group_by accepts {', '.join(GROUPS)}; not {', '.join(unknown)}", code="validation_error"
        )
    if "day" in groups and "hour" in groups:
        raise PromptGateError("group_by takes day or hour, not both", code="validation_error")


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
    """Summed columns per group of `fields` (the histogram's buckets included)."""
    names = (*SUMS, *LATENCY_COLUMNS)
    qs = rows.values(*fields).annotate(**{name: Sum(name) for name in names}).order_by()
    return {tuple(row[f] for f in fields): {n: row[n] or 0 for n in names} for row in qs}


def report(
    user: Any, params: dict[str, str], groups: tuple[str, ...] = DEFAULT_GROUPS
) -> list[dict[str, Any]]:
    """One row per group: requests, errors, bytes, tokens, cost (USD) and latency (mean, p50/p95/p99 from
    the summed histograms), newest first. Grouped by hour: the hourly rollup. Otherwise the daily
    rollup for the days it has been derived for, and the hourly rollup summed per day after those."""
    check_groups(groups)
    fields = [GROUPS[g] for g in groups]
    hourly = filtered(visible_rows(user, HourlyRollup), params)
    if "hour" in groups:
        merged = _sums(hourly, fields)
    else:
        mark = rollups.derived_until()
        merged = {}
        if mark is not None:
            daily = filtered(visible_rows(user, DailyRollup), params).filter(day__lt=mark)
            merged = _sums(daily, fields)
            hourly = hourly.filter(hour__gte=datetime.datetime.combine(mark, datetime.time.min, datetime.UTC))
        for key, sums in _sums(hourly.annotate(day=TruncDate("hour", tzinfo=datetime.UTC)), fields).items():
            total = merged.setdefault(key, dict.fromkeys(sums, 0))
            for name, value in sums.items():
                total[name] += value
    ordered = list(merged.items())
    for position in reversed(range(len(fields))):  # stable sorts, last field first: period newest first
        newest_first = fields[position] in ("day", "hour")
        ordered.sort(key=lambda item, p=position: item[0][p], reverse=newest_first)
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


def visible_rows(user: Any, model: type[Rollup] = DailyRollup) -> QuerySet[Any]:
    """The rollup rows `user` may read (superusers: all; others: projects where they read logs)."""
    uuids = project_uuids_for(user, "read_logs")
    rows = model.objects.all()
    return rows if uuids is None else rows.filter(project_uuid__in=uuids)


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
