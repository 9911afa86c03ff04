"""The event outbox: an Event row written with the change it announces, fanned out to Delivery rows.

`record` runs inside the caller's transaction: the event, its deliveries and their queued tasks
(django-tasks-db rows, in the same database) commit or roll back with the change, so no change is
announced that did not happen and none is lost by a crash. Data-plane events reach `record` through
the batched writer in `webhooks.emit` instead, never from the request path.
"""

from __future__ import annotations

import datetime
import logging
from typing import Any

from django.db import IntegrityError, models, transaction

from webhooks import clock
from webhooks.catalogue import EVENT_TYPES
from webhooks.models import Delivery, Event, Webhook

logger = logging.getLogger(__name__)


def body(event_type: str, data: dict[str, Any], at: datetime.datetime) -> dict[str, Any]:
    """The Standard Webhooks payload: {"type", "timestamp", "data"}."""
    return {"type": event_type, "timestamp": at.isoformat().replace("+00:00", "Z"), "data": data}


def subscribers(event_type: str, project_id: int | None) -> list[Webhook]:
    """Enabled webhooks that want this event: the project's own and the global ones."""
    scope = models.Q(project__isnull=True)
    if project_id is not None:
        scope |= models.Q(project_id=project_id)
    return [w for w in Webhook.objects.filter(scope, enabled=True) if w.wants(event_type)]


def record(
    event_type: str,
    data: dict[str, Any],
    *,
    project: Any = None,
    project_id: int | None = None,
    project_uuid: Any = None,
    dedupe_key: str | None = None,
    exclude_webhook: int | None = None,
    only_webhook: Webhook | None = None,
) -> Event | None:
    """Write the event and one delivery per subscriber; None when nobody listens (or already sent)."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    if project is not None:
        project_id, project_uuid = project.pk, project.uuid
    if only_webhook is not None:
        targets = [only_webhook]
    else:
        targets = [w for w in subscribers(event_type, project_id) if w.pk != exclude_webhook]
    if not targets:
        return None  # nobody to tell: nothing written (a "once" key is claimed by the first real send)
    at = clock.now()
    event = Event(
        type=event_type,
        project_id=project_id,
        project_uuid=project_uuid,
        payload=body(event_type, data, at),
        dedupe_key=dedupe_key,
    )
    if dedupe_key is not None:
        try:
            with transaction.atomic():  # a savepoint: a duplicate leaves the caller's transaction intact
                event.save(force_insert=True)
        except IntegrityError:
            return None  # another process (or an earlier batch) sent it already
    else:
        event.save(force_insert=True)
    deliveries = Delivery.objects.bulk_create(
        [Delivery(webhook=w, event=event, next_attempt_at=at, enqueued_at=at) for w in targets]
    )
    from webhooks import tasks  # local: webhooks.tasks imports this module (a cycle)

    for delivery in deliveries:
        tasks.enqueue(delivery.pk)
    return event
