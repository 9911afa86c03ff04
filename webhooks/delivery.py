"""Delivering: claim a due delivery, sign and POST it, record the attempt, schedule the next one.

At-least-once: a delivery is claimed by one conditional UPDATE (pending and due, or delivering with
its lease run out), so two workers never send the same attempt; a worker that dies mid-delivery
leaves its lease to run out, and the sweep hands the delivery to another worker, which sends it again
with the same `webhook-id` (receivers deduplicate on it).

Retries follow the Standard Webhooks schedule (now, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h,
24 h), each delay with ±10% jitter; a 429 or 503 with `Retry-After` waits at least that long (capped
at 24 h). 410 Gone disables the webhook at once; an endpoint that has failed every attempt for three
days is disabled too. Either way the change is audited and announced (`webhook.disabled`) to the
project's other webhooks and the global ones.
"""

from __future__ import annotations

import datetime
import random
import time
from typing import Any

import orjson
from django.conf import settings
from django.db import models, transaction

from audit import marks
from webhooks import clock, outbox, sender, signing
from webhooks.models import Delivery, DeliveryAttempt, DeliveryStatus, Webhook

SCHEDULE = (0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)  # seconds before each attempt
JITTER = 0.1
MAX_RETRY_AFTER = 86400
DISABLE_AFTER = datetime.timedelta(days=3)
PENDING_GRACE = datetime.timedelta(minutes=10)

jitter = random.Random()  # noqa: S311 (spreading retries, not a secret); tests seed or replace it


def lease_seconds() -> float:
    return float(settings.PROMPTGATE_WEBHOOK_LEASE_SECONDS)


def retry_delay(step: int, status_code: int | None, retry_after: float | None) -> float:
    """Seconds to wait before attempt `step` (1-based after the first), Retry-After included."""
    delay = SCHEDULE[step] * jitter.uniform(1 - JITTER, 1 + JITTER)
    if status_code in (429, 503) and retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return delay


def claim(delivery_id: int, now: datetime.datetime) -> Delivery | None:
    """Take the delivery for this worker, or None when it is not due or someone else holds it."""
    due = models.Q(status=DeliveryStatus.PENDING, next_attempt_at__lte=now) | models.Q(
        status=DeliveryStatus.DELIVERING, lease_until__lt=now
    )
    lease = now + datetime.timedelta(seconds=lease_seconds())
    taken = Delivery.objects.filter(due, pk=delivery_id).update(
        status=DeliveryStatus.DELIVERING, lease_until=lease
    )
    if not taken:
        return None
    return Delivery.objects.select_related("webhook", "event").get(pk=delivery_id)


def signing_secrets(webhook: Webhook, now: datetime.datetime) -> list[str]:
    secrets = [webhook.secret]
    expires = webhook.previous_secret_expires_at
    if webhook.previous_secret and expires is not None and expires > now:
        secrets.append(webhook.previous_secret)
    return secrets


def encode(payload: dict[str, Any]) -> bytes:
    return orjson.dumps(payload)


def run(delivery_id: int) -> DeliveryAttempt | None:
    """The task's body: claim, send, record. None when there was nothing to do."""
    delivery = claim(delivery_id, clock.now())
    if delivery is None:
        return None
    return perform(delivery)


def perform(delivery: Delivery, *, retry: bool = True) -> DeliveryAttempt | None:
    """Send a claimed delivery once and record what happened (no retry for `webhook.test`)."""
    webhook = delivery.webhook
    if not webhook.enabled:
        Delivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.FAILED, lease_until=None, next_attempt_at=None
        )
        return None
    started = clock.now()
    body = encode(delivery.event.payload)
    # The wire timestamp is the real time of this attempt (receivers check it against their clock).
    headers = signing.headers(signing_secrets(webhook, started), delivery.event_id, int(time.time()), body)
    answer = sender.post(webhook.url, body, headers)
    return _record(delivery, answer, started, retry=retry)


@transaction.atomic
def _record(
    delivery: Delivery, answer: sender.Answer, started: datetime.datetime, *, retry: bool
) -> DeliveryAttempt:
    now = clock.now()
    ok = answer.status_code is not None and 200 <= answer.status_code < 300
    attempt = DeliveryAttempt.objects.create(
        delivery=delivery,
        attempted_at=started,
        status_code=answer.status_code,
        error=answer.error,
        latency_ms=answer.latency_ms,
        response_excerpt=answer.excerpt,
        succeeded=ok,
    )
    delivery.attempt_count += 1
    delivery.last_status_code = answer.status_code
    delivery.lease_until = None
    if ok:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.SUCCEEDED, None
        if delivery.webhook.failing_since is not None:
            Webhook.objects.filter(pk=delivery.webhook_id).update(failing_since=None)
    else:
        webhook = Webhook.objects.select_for_update().get(pk=delivery.webhook_id)
        if webhook.failing_since is None:
            Webhook.objects.filter(pk=webhook.pk).update(failing_since=started)
            webhook.failing_since = started
        step = delivery.schedule_step + 1
        if answer.status_code == 410:
            disable(webhook, "the endpoint answered 410 Gone")
        elif now - webhook.failing_since >= DISABLE_AFTER and webhook.enabled:
            disable(webhook, "every attempt failed for 3 days")
        if not retry or not webhook.enabled or step >= len(SCHEDULE):
            delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
        else:
            delay = retry_delay(step, answer.status_code, answer.retry_after)
            delivery.status = DeliveryStatus.PENDING
            delivery.schedule_step = step
            delivery.next_attempt_at = now + datetime.timedelta(seconds=delay)
            delivery.enqueued_at = now
            from webhooks import tasks  # local: webhooks.tasks imports this module (a cycle)

            tasks.enqueue(delivery.pk, run_after=delivery.next_attempt_at)
    delivery.save(
        update_fields=[
            "status",
            "attempt_count",
            "schedule_step",
            "next_attempt_at",
            "lease_until",
            "enqueued_at",
            "last_status_code",
            "updated_at",
        ]
    )
    return attempt


def describe(webhook: Webhook) -> dict[str, Any]:
    # Not the URL: many receivers (Slack's, for one) carry their credential in it.
    return {"id": webhook.pk, "description": webhook.description}


def disable(webhook: Webhook, reason: str) -> None:
    """Turn the webhook off (audited by the save), and tell the project's other webhooks."""
    webhook.enabled = False
    webhook.disabled_reason = reason[:200]
    webhook.disabled_at = clock.now()
    marks.mark_action(webhook, "webhook_disable")
    webhook.save(update_fields=["enabled", "disabled_reason", "disabled_at", "updated_at"])
    project = webhook.project if webhook.project_id else None
    data = {"webhook": describe(webhook), "reason": reason}
    if project is not None:
        data["project"] = {"uuid": str(project.uuid), "name": project.name}
    outbox.record("webhook.disabled", data, project=project, exclude_webhook=webhook.pk)


@transaction.atomic
def redeliver(delivery: Delivery) -> Delivery:
    """Send a delivery again from the start of the schedule, with the same webhook-id."""
    now = clock.now()
    delivery.status = DeliveryStatus.PENDING
    delivery.schedule_step = 0
    delivery.next_attempt_at = now
    delivery.enqueued_at = now
    delivery.lease_until = None
    delivery.save(update_fields=["status", "schedule_step", "next_attempt_at", "enqueued_at", "lease_until"])
    from webhooks import tasks  # local: webhooks.tasks imports this module (a cycle)

    tasks.enqueue(delivery.pk)
    return delivery


@transaction.atomic
def redeliver_failed(webhook: Webhook, since: datetime.datetime, until: datetime.datetime) -> int:
    """Redeliver every failed delivery of the webhook created in [since, until); returns how many."""
    failed = list(
        webhook.deliveries.filter(status=DeliveryStatus.FAILED, created_at__gte=since, created_at__lt=until)
    )
    for delivery in failed:
        redeliver(delivery)
    return len(failed)


def sweep(now: datetime.datetime | None = None) -> int:
    """Hand deliveries whose worker died (lease run out) or whose task went missing to the queue again."""
    now = now or clock.now()
    from webhooks import tasks  # local: webhooks.tasks imports this module (a cycle)

    # A lease that ran out: its worker died mid-delivery. A pending delivery overdue by PENDING_GRACE
    # whose task was queued that long ago: its task was lost (a worker died between taking the task
    # and claiming the delivery). A backlog longer than that only costs a spare task claiming nothing.
    lease_grace = now - datetime.timedelta(seconds=lease_seconds())
    pending_grace = now - PENDING_GRACE
    lost = models.Q(
        status=DeliveryStatus.DELIVERING, lease_until__lt=now, enqueued_at__lt=lease_grace
    ) | models.Q(
        status=DeliveryStatus.PENDING, next_attempt_at__lte=pending_grace, enqueued_at__lt=pending_grace
    )
    stale = Delivery.objects.filter(lost)
    ids = list(stale.values_list("pk", flat=True)[:1000])
    for delivery_id in ids:
        with transaction.atomic():
            Delivery.objects.filter(pk=delivery_id).update(enqueued_at=now)
            tasks.enqueue(delivery_id)
    return len(ids)
