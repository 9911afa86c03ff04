"""Hits per rule per day, for the admin: summed from the request logs' guardrail verdicts over a bounded
window (the newest MAX_ROWS rows with a verdict at most), never the matched text."""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable
from typing import Any
from uuid import UUID

from django.utils import timezone

from audit.models import RequestLog

MAX_ROWS = 50_000


def hits_per_rule_per_day(
    project_uuids: Iterable[UUID] | None, days: int = 14, max_rows: int = MAX_ROWS
) -> tuple[list[dict[str, Any]], bool]:
    """Rows of (day, project, rule, level, stage, action, requests, matches, blocked), newest day first;
    and whether the window was cut at `max_rows`."""

    since = timezone.now() - datetime.timedelta(days=days)
    rows = RequestLog.objects.filter(time__gte=since).exclude(guardrails={})
    if project_uuids is not None:
        rows = rows.filter(project_uuid__in=list(project_uuids))
    picked = list(rows.order_by("-time").values_list("time", "project_uuid", "guardrails")[: max_rows + 1])
    truncated = len(picked) > max_rows
    totals: dict[tuple[Any, ...], dict[str, int]] = defaultdict(
        lambda: {"requests": 0, "matches": 0, "blocked": 0}
    )
    for when, project_uuid, verdict in picked[:max_rows]:
        day = timezone.localtime(when).date().isoformat()
        for hit in (verdict or {}).get("hits", ()):
            key = (
                day,
                str(project_uuid),
                hit.get("rule"),
                hit.get("level"),
                hit.get("stage"),
                hit.get("action"),
            )
            entry = totals[key]
            entry["requests"] += 1
            entry["matches"] += int(hit.get("count") or 0)
            if hit.get("action") == "block" or hit.get("error"):
                entry["blocked"] += 1
    out = [
        {"day": k[0], "project": k[1], "rule": k[2], "level": k[3], "stage": k[4], "action": k[5], **v}
        for k, v in totals.items()
    ]
    out.sort(key=lambda r: (r["day"], r["requests"]), reverse=True)
    return out, truncated
