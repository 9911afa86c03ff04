"""Admin pages of the AI gateway's money side: price overrides, and usage and cost with a daily chart."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from gateways.ai import usage
from gateways.ai.models import PriceOverride, UsageReport
from projects.admin_roles import ReadOnlyAdmin

CHART_WIDTH, CHART_HEIGHT, CHART_DAYS = 720, 160, 30


@admin.register(PriceOverride)
class PriceOverrideAdmin(admin.ModelAdmin):
    list_display = ("provider", "model", "input_per_million", "output_per_million", "updated_at")
    search_fields = ("provider", "model")
    fields = ("provider", "model", "input_per_million", "output_per_million")


def chart(days: list[dict[str, Any]]) -> dict[str, Any]:
    """Bars of cost per day (oldest left), as plain numbers for an inline SVG: no script, no CDN."""
    days = sorted(days, key=lambda d: d["day"])[-CHART_DAYS:]
    top = max((Decimal(d["cost"]) for d in days), default=Decimal(0)) or Decimal(1)
    slot = CHART_WIDTH / max(len(days), 1)
    bars = []
    for i, day in enumerate(days):
        height = float(Decimal(day["cost"]) / top) * (CHART_HEIGHT - 20)
        bars.append(
            {
                "x": round(i * slot + 2, 1),
                "y": round(CHART_HEIGHT - height, 1),
                "width": round(max(slot - 4, 1), 1),
                "height": round(height, 1),
                "label": f"{day['day']}: ${day['cost']} · {day['requests']} requests",
            }
        )
    return {"bars": bars, "width": CHART_WIDTH, "height": CHART_HEIGHT, "top": str(top.normalize())}


@admin.register(UsageReport)
class UsageReportAdmin(ReadOnlyAdmin):
    """Not a list of rows: one page of aggregates, scoped to the projects the user may read logs of."""

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        params: dict[str, str] = {
            k: v
            for k in ("project", "token", "endpoint", "model", "since", "until")
            if (v := request.GET.get(k)) is not None
        }
        try:
            detail = usage.report(request.user, params)
            per_day = usage.report(request.user, params, ("day",))
        except usage.PromptGateError as exc:
            detail, per_day = [], []
            params["error"] = exc.message
        context = {
            **self.admin_site.each_context(request),
            "title": "Usage and cost",
            "opts": self.model._meta,
            "params": params,
            "rows": detail,
            "totals": usage.totals(detail),
            "chart": chart(per_day),
        }
        return TemplateResponse(request, "admin/ai/usage_report.html", context)
