"""Webhook lifecycle (create, change, rotate, test) and the control-plane events the other apps announce.

`project_event` and `token_event` are called by projects/services.py inside its transactions, so the
outbox row commits with the change.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from audit import marks
from gateways.common import ssrf
from promptgate.errors import ErrorCode, PromptGateError
from webhooks import clock, delivery, outbox, signing
from webhooks.models import Delivery, DeliveryAttempt, DeliveryStatus, Webhook

ROTATION_OVERLAP = datetime.timedelta(hours=24)


def project_data(project: Any) -> dict[str, Any]:
    return {
        "uuid": str(project.uuid),
        "name": project.name,
        "slug": project.slug,
        "project_type": project.project_type,
        "env": project.env,
        "is_active": project.is_active,
    }


def token_data(token: Any) -> dict[str, Any]:
    return {
        "id": token.pk,
        "name": token.name,
        "prefix": token.prefix,
        "scopes": list(token.scopes),
        "expires_at": token.expires_at.isoformat() if token.expires_at else None,
        "project": {"uuid": str(token.project.uuid), "name": token.project.name},
    }


def project_event(event_type: str, project: Any, **extra: Any) -> None:
    """project.created|updated|activated|deactivated|deleted, in the caller's transaction."""
    outbox.record(event_type, {"project": project_data(project), **extra}, project=project)


def project_deleted(project: Any) -> Callable[[], None]:
    """Take the project's details before it goes; call the result after the delete, in its transaction.

    The project's own webhooks are deleted with it, so only global webhooks hear of the deletion.
    """
    pk, uuid, data = project.pk, project.uuid, project_data(project)

    def announce() -> None:
        outbox.record("project.deleted", {"project": data}, project_id=pk, project_uuid=uuid)

    return announce


def token_event(event_type: str, token: Any) -> None:
    """token.created|revoked, in the caller's transaction."""
    data = token_data(token)
    if token.revoked_at is not None:
        data["revoked_at"] = token.revoked_at.isoformat()
    outbox.record(event_type, {"token": data}, project=token.project)


def _validate(webhook: Webhook) -> None:
    errors: dict[str, list[str]] = {}
    try:
        webhook.full_clean(exclude=["project", "secret", "previous_secret"])
    except ValidationError as exc:
        errors = {name: list(messages) for name, messages in exc.message_dict.items()}
    if "url" not in errors:
        try:
            ssrf.validate_url(webhook.url)
        except ssrf.SsrfBlocked as exc:
            message = exc.saved_message("webhook URL")
            raise PromptGateError(message, code=ErrorCode.SSRF_BLOCKED, fields={"url": [message]}) from None
    if errors:
        raise PromptGateError("Invalid input", code=ErrorCode.VALIDATION_ERROR, fields=errors)


@transaction.atomic
def create_webhook(project: Any, **fields: Any) -> tuple[Webhook, str]:
    """A new webhook and its signing secret (the only time the caller sees it)."""
    webhook = Webhook(project=project, **fields)
    webhook.secret = signing.generate_secret()
    _validate(webhook)
    webhook.save()
    return webhook, webhook.secret


@transaction.atomic
def update_webhook(webhook: Webhook, changes: dict[str, Any]) -> Webhook:
    for name, value in changes.items():
        setattr(webhook, name, value)
    if changes.get("enabled") is True:
        # Turned back on: a fresh start, not the remainder of the run that disabled it.
        webhook.disabled_reason, webhook.disabled_at, webhook.failing_since = "", None, None
    _validate(webhook)
    webhook.save()
    return webhook


@transaction.atomic
def rotate_secret(webhook: Webhook) -> tuple[Webhook, str]:
    """A new secret; the old one keeps signing too for 24 hours (both signatures in every header)."""
    webhook = Webhook.objects.select_for_update().get(pk=webhook.pk)
    webhook.previous_secret = webhook.secret
    webhook.previous_secret_expires_at = clock.now() + ROTATION_OVERLAP
    webhook.secret = signing.generate_secret()
    marks.mark_action(webhook, "webhook_rotate_secret")
    webhook.save()
    return webhook, webhook.secret


def send_test(webhook: Webhook) -> DeliveryAttempt:
    """Send `webhook.test` to this webhook now (one attempt, no retries) and give back the attempt."""
    if not webhook.enabled:
        raise PromptGateError("The webhook is disabled", code=ErrorCode.WEBHOOK_DISABLED, status=409)
    data = {"webhook": {"id": webhook.pk}, "message": "PromptGate test event"}
    with transaction.atomic():
        event = outbox.record("webhook.test", data, project=webhook.project, only_webhook=webhook)
        assert event is not None
        item = Delivery.objects.get(event=event, webhook=webhook)
        # Ours from the start: the queued task finds it taken (or done) and does nothing.
        now = clock.now()
        item.status, item.lease_until = DeliveryStatus.DELIVERING, now + datetime.timedelta(minutes=5)
        item.save(update_fields=["status", "lease_until"])
    item.webhook = webhook
    attempt = delivery.perform(item, retry=False)
    assert attempt is not None
    return attempt
