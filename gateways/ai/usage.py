"""Usage and cost per day, project, token, endpoint and model, aggregated from the AI request log.

Read-only: the management API's `/manage/api/v1/usage/` (filters, choice of grouping) and the admin's
"Usage and cost" page (see usage_admin.py) both call `aggregate`.
"""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import views
from rest_framework.request import Request
from rest_framework.response import Response

from audit.models import RequestLog
from projects.api.base import ManagementViewMixin
from projects.api.permissions import project_uuids_for
from promptgate.errors import PromptGateError

GROUPS = {
    "day": "day",
    "project": "project_uuid",
    "token": "token_prefix",
    "endpoint": "endpoint",
    "provider": "provider",
    "model": "model",
}
DEFAULT_GROUPS = ("day", "project", "token", "endpoint", "model")
MAX_ROWS = 5000


def _date(value: str | None, name: str) -> datetime.date | None:
    if not value:
        return None
    try:
        return datetime.date.fromisoformat(value[:10])
    except ValueError:
        raise PromptGateError(f"{name} must be a date (YYYY-MM-DD)", code="validation_error") from None


def filtered(rows: QuerySet[RequestLog], params: dict[str, str]) -> QuerySet[RequestLog]:
    """AI rows narrowed by the query: project (uuid), token (prefix), endpoint, provider, model, since, until."""
    rows = rows.filter(gateway="ai")
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
    if since:
        rows = rows.filter(time__gte=datetime.datetime.combine(since, datetime.time.min, datetime.UTC))
    if until:
        rows = rows.filter(
            time__lt=datetime.datetime.combine(until, datetime.time.min, datetime.UTC)
            + datetime.timedelta(days=1)
        )
    return rows


def aggregate(rows: QuerySet[RequestLog], groups: tuple[str, ...] = DEFAULT_GROUPS) -> list[dict[str, Any]]:
    """One row per group: requests, errors, tokens in/out and cost (USD), newest day first."""
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        raise PromptGateError(
            f"group_by accepts {', '.join(GROUPS)}; not {', '.join(unknown)}", code="validation_error"
        )
    fields = [GROUPS[g] for g in groups]
    qs = rows.annotate(day=TruncDate("time", tzinfo=datetime.UTC)).values(*fields)
    qs = qs.annotate(
        requests=Count("id"),
        errors=Count("id", filter=Q(status__gte=400)),
        tokens_in=Sum("tokens_in"),
        tokens_out=Sum("tokens_out"),
        cost=Sum("cost"),
    ).order_by(*[f"-{f}" if f == "day" else f for f in fields])
    out = []
    for row in qs[:MAX_ROWS]:
        item = {group: row[GROUPS[group]] for group in groups}
        if "day" in item and item["day"] is not None:
            item["day"] = item["day"].isoformat()
        if "project" in item:
            item["project"] = str(item["project"])
        item.update(
            requests=row["requests"],
            errors=row["errors"],
            tokens_in=row["tokens_in"] or 0,
            tokens_out=row["tokens_out"] or 0,
            cost=str((row["cost"] or Decimal(0)).normalize()),
        )
        out.append(item)
    return out


def totals(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "requests": sum(i["requests"] for i in items),
        "errors": sum(i["errors"] for i in items),
        "tokens_in": sum(i["tokens_in"] for i in items),
        "tokens_out": sum(i["tokens_out"] for i in items),
        "cost": str(sum((Decimal(i["cost"]) for i in items), Decimal(0)).normalize()),
    }


def visible_rows(user: Any) -> QuerySet[RequestLog]:
    """The request log rows `user` may read (superusers: all; others: projects where they read logs)."""
    uuids = project_uuids_for(user, "read_logs")
    rows = RequestLog.objects.all()
    return rows if uuids is None else rows.filter(project_uuid__in=uuids)


class UsageView(ManagementViewMixin, views.APIView):
    """Usage and cost of the AI gateway per day, project, token, endpoint and model (read-only)."""

    @extend_schema(
        parameters=[
            OpenApiParameter("project", OpenApiTypes.UUID, description="Project uuid."),
            OpenApiParameter("token", OpenApiTypes.STR, description="Token prefix."),
            OpenApiParameter("endpoint", OpenApiTypes.STR, description="chat.completions, embeddings, …"),
            OpenApiParameter("provider", OpenApiTypes.STR),
            OpenApiParameter("model", OpenApiTypes.STR),
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
        items = aggregate(filtered(visible_rows(request.user), params), groups)
        return Response({"group_by": list(groups), "results": items, "totals": totals(items)})


urlpatterns = [path("usage/", UsageView.as_view(), name="ai-usage")]
