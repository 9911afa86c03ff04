"""Webhook (a destination), Event (the outbox), Delivery (one event to one webhook) and its attempts."""

from __future__ import annotations

import secrets

from django.core.exceptions import ValidationError
from django.db import models

from credentials.fields import EncryptedTextField
from webhooks.catalogue import EVENT_TYPES


def new_message_id() -> str:
    """The `webhook-id` of an event: unique, the same on every retry (receivers deduplicate on it)."""
    return f"msg_{secrets.token_urlsafe(18)}"


def validate_event_list(value: object) -> None:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ValidationError('A non-empty list of event types, or ["*"]')
    unknown = sorted(v for v in value if v != "*" and v not in EVENT_TYPES)
    if unknown:
        raise ValidationError(f"Unknown event types: {', '.join(unknown)}")


class Webhook(models.Model):
    # None: a global webhook (superusers), which receives every project's events and system events.
    project = models.ForeignKey(
        "projects.Project", null=True, blank=True, on_delete=models.CASCADE, related_name="webhooks"
    )
    url = models.URLField(max_length=2000)
    events = models.JSONField(default=list, validators=[validate_event_list])
    enabled = models.BooleanField(default=True)
    description = models.CharField(max_length=500, blank=True, default="")
    # It signs, so it is encrypted (not a digest); shown once at creation and at rotation.
    secret = EncryptedTextField()
    # After a rotation the old secret signs too, until previous_secret_expires_at.
    previous_secret = EncryptedTextField()
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    # The start of the current run of failed attempts (None while the endpoint answers 2xx).
    failing_since = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_reason = models.CharField(max_length=200, blank=True, default="", editable=False)
    disabled_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.description or self.url[:80]

    def wants(self, event_type: str) -> bool:
        return "*" in self.events or event_type in self.events


class Event(models.Model):
    """The outbox: written in the same transaction as the change it announces (or by a batched writer)."""

    id = models.CharField(primary_key=True, max_length=40, default=new_message_id, editable=False)
    type = models.CharField(max_length=60)
    project_id = models.BigIntegerField(null=True, blank=True)  # a value: the project may be gone
    project_uuid = models.UUIDField(null=True, blank=True)
    payload = models.JSONField()  # the whole body sent: {"type", "timestamp", "data"}
    # Once per key, across every process: budget thresholds per period, token expiry warnings.
    dedupe_key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["type", "created_at"])]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERING = "delivering", "Delivering"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class Delivery(models.Model):
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=12, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempt_count = models.PositiveIntegerField(default=0)
    # Index into the retry schedule of the current round (a redelivery starts a new round).
    schedule_step = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # A worker holds the delivery until then; past it (the worker died) another worker takes it.
    lease_until = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["webhook", "status", "created_at"]),
        ]
        constraints = [models.UniqueConstraint(fields=["webhook", "event"], name="unique_delivery")]

    def __str__(self) -> str:
        return f"{self.event_id} → webhook {self.webhook_id}"


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempts")
    attempted_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)  # None: no answer
    error = models.CharField(max_length=60, blank=True, default="")  # a code, never a message
    latency_ms = models.PositiveIntegerField(default=0)
    response_excerpt = models.TextField(blank=True, default="")  # at most 1 KB of the answer
    succeeded = models.BooleanField(default=False)

    class Meta:
        ordering = ["attempted_at", "id"]

    def __str__(self) -> str:
        return f"attempt {self.pk} ({self.status_code or self.error})"
