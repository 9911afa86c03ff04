"""A budget set mid-period starts from what was already spent in its day and month, not from zero.

Budget counters are only kept while a budget exists (budgets.admit counts nothing for a project or
token without one), so a budget created at 15:00 would otherwise let the day's whole cap be spent
again on top of the morning's spend. When a UsageLimit is saved with a daily or monthly budget, the
counters of the current day and month that do not exist yet are written with the spend so far, read
from the request-log rollups (written with the logs, in the same transaction): the day from
HourlyRollup, the month from DailyRollup for the days already derived and HourlyRollup after them.
An existing counter is never overwritten (it already counts, and may be ahead of the rollups).
"""

from __future__ import annotations

import datetime
import logging
import time
from typing import Any

from django.db import transaction
from django.db.models import Sum

from audit.models import DailyRollup, HourlyRollup
from audit.rollups import derived_until
from gateways.ai import budgets
from gateways.ai.models import BudgetCounter
from gateways.common import redis_clients

logger = logging.getLogger(__name__)


def spent_nanos(project_uuid: Any, token_prefix: str | None, since: datetime.datetime) -> int:
    """Cost (nano-USD) logged for the project (or one of its tokens) from `since` (UTC) until now."""
    done = derived_until()
    total = 0
    hourly_from = since
    if done is not None and done > since.date():
        days = DailyRollup.objects.filter(project_uuid=project_uuid, day__gte=since.date(), day__lt=done)
        if token_prefix is not None:
            days = days.filter(token_prefix=token_prefix)
        total += days.aggregate(n=Sum("cost_nanos"))["n"] or 0
        hourly_from = datetime.datetime.combine(done, datetime.time.min, datetime.UTC)
    hours = HourlyRollup.objects.filter(project_uuid=project_uuid, hour__gte=hourly_from)
    if token_prefix is not None:
        hours = hours.filter(token_prefix=token_prefix)
    return total + (hours.aggregate(n=Sum("cost_nanos"))["n"] or 0)


def seed(limit: Any, now: float | None = None) -> dict[str, int]:
    """Write the missing day and month counters of `limit` (a UsageLimit); returns key -> value written."""
    at = budgets.periods(time.time() if now is None else now)
    subject = f"t{limit.token_id}" if limit.token_id else f"p{limit.project_id}"
    prefix = limit.token.prefix if limit.token_id else None
    day_start = datetime.datetime.fromtimestamp(at.day_end - 86400, datetime.UTC)
    month_start = day_start.replace(day=1)
    wanted = []
    if limit.daily_budget is not None:
        wanted.append((budgets.budget_key(subject, "daily", at), day_start, at.day_end))
    if limit.monthly_budget is not None:
        wanted.append((budgets.budget_key(subject, "monthly", at), month_start, at.month_end))
    written = {}
    for key, since, expires_at in wanted:
        value = spent_nanos(limit.project.uuid, prefix, since)
        if value > 0 and _write_if_missing(key, value, expires_at):
            written[key] = value
    return written


def _write_if_missing(key: str, value: int, expires_at: int) -> bool:
    if redis_clients.enabled():
        try:
            return bool(
                redis_clients.sync_client().set(redis_clients.key(key), value, nx=True, exat=expires_at)
            )
        except Exception:  # a down Redis leaves the budget counting from zero, as before; say so
            logger.warning("could not seed budget counter %s from the day's spend", key, exc_info=True)
            return False

    if BudgetCounter.objects.filter(key=key).exists():
        return False
    expires = datetime.datetime.fromtimestamp(expires_at, datetime.UTC)
    # Bulk, as budget_store writes them: no signals (no audit row, no config bump); a racing writer wins.
    BudgetCounter.objects.bulk_create(
        [BudgetCounter(key=key, value=value, expires_at=expires)], ignore_conflicts=True
    )
    return True


def on_limit_saved(sender: Any, instance: Any, **kwargs: Any) -> None:
    """post_save of UsageLimit: seed once the row is committed (the gateway reads the limit only then)."""
    if instance.daily_budget is not None or instance.monthly_budget is not None:
        transaction.on_commit(lambda: seed(instance))
