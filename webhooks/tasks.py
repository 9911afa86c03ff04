"""Background work through Django's Tasks API (django-tasks, the django-tasks-db backend): deliveries.

`deliver` is one attempt of one delivery; it is queued in the transaction that creates or reschedules
the delivery (the database backend's task rows live in the same database, so they commit together).
`upkeep` is run by every `webhook_worker` process every few seconds: it re-queues deliveries whose
worker died and warns of expiring tokens; any number of workers may run it at once.
"""

from __future__ import annotations

import datetime
import logging

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django_tasks import task
from django_tasks_db.models import DBTaskResult

from projects.models import ApiToken
from webhooks import clock, delivery, outbox
from webhooks.models import Event
from webhooks.services import token_data

logger = logging.getLogger(__name__)


@task(queue_name="webhooks")
def deliver(delivery_id: int) -> None:
    delivery.run(delivery_id)


def enqueue(delivery_id: int, run_after: datetime.datetime | None = None) -> None:
    (deliver if run_after is None else deliver.using(run_after=run_after)).enqueue(delivery_id)


def warn_expiring_tokens(now: datetime.datetime | None = None) -> int:
    """`token.expiring` once per token and threshold (PROMPTGATE_TOKEN_EXPIRY_WARNING_DAYS)."""

    now = now or clock.now()
    thresholds = sorted(settings.PROMPTGATE_TOKEN_EXPIRY_WARNING_DAYS)
    if not thresholds:
        return 0
    horizon = now + datetime.timedelta(days=thresholds[-1])
    tokens = ApiToken.objects.filter(
        revoked_at__isnull=True, expires_at__gt=now, expires_at__lte=horizon
    ).select_related("project")
    sent = 0
    for token in tokens:
        assert token.expires_at is not None  # the filter above
        left = token.expires_at - now
        days = next(d for d in thresholds if left <= datetime.timedelta(days=d))
        key = f"token.expiring:{token.pk}:{days}"
        if Event.objects.filter(dedupe_key=key).exists():
            continue
        with transaction.atomic():
            data = {"token": token_data(token), "days_left": max(0, left.days)}
            if outbox.record("token.expiring", data, project=token.project, dedupe_key=key) is not None:
                sent += 1
    return sent


def prune_task_results(now: datetime.datetime | None = None) -> int:
    """Delete finished task rows after an hour, and rows of dead workers after a day (the Delivery rows
    are the record; django-tasks-db keeps one row per attempt otherwise, forever)."""

    now = now or clock.now()
    old = Q(status__in=["SUCCESSFUL", "FAILED"], finished_at__lt=now - datetime.timedelta(hours=1)) | Q(
        status="RUNNING", started_at__lt=now - datetime.timedelta(days=1)
    )
    ids = list(DBTaskResult.objects.filter(old).values_list("pk", flat=True)[:5000])
    DBTaskResult.objects.filter(pk__in=ids).delete()
    return len(ids)


def upkeep() -> None:
    """One round of the worker's housekeeping; each part is safe to run in several workers at once."""
    swept = delivery.sweep()
    if swept:
        logger.info("re-queued %d webhook deliveries whose worker or task was lost", swept)
    warn_expiring_tokens()
    prune_task_results()
