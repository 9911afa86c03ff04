"""AuditLog (append-only change history) and RequestLog (one row per proxied call)."""

from __future__ import annotations

from typing import Any, NoReturn

from django.db import models


class AppendOnlyError(Exception):
    """Audit rows are never changed or removed (PostgreSQL also enforces it with a trigger)."""


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("audit log rows cannot be updated")

    def delete(self) -> NoReturn:
        raise AppendOnlyError("audit log rows cannot be deleted")


class AuditLog(models.Model):
    time = models.DateTimeField(auto_now_add=True, db_index=True)
    actor_type = models.CharField(max_length=20)
    actor_id = models.CharField(max_length=64, blank=True, default="")
    actor_label = models.CharField(max_length=150, blank=True, default="")
    action = models.CharField(max_length=40, db_index=True)
    object_type = models.CharField(max_length=100, blank=True, default="")
    object_id = models.CharField(max_length=64, blank=True, default="")
    object_repr = models.CharField(max_length=200, blank=True, default="")
    # Values, not a foreign key: the trail outlives the project it describes.
    project_uuid = models.UUIDField(null=True, blank=True, db_index=True)
    project_name = models.CharField(max_length=100, blank=True, default="")
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    extra = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True, default="", db_index=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-time", "-id"]
        indexes = [models.Index(fields=["actor_type", "actor_id"])]

    def __str__(self) -> str:
        return f"{self.time:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action} {self.object_type}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise AppendOnlyError("audit log rows cannot be updated")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("audit log rows cannot be deleted")


class RequestLog(models.Model):
    """One proxied call. Written in batches by the background writer, never on the request path."""

    time = models.DateTimeField(db_index=True)
    project_uuid = models.UUIDField()  # indexed by (project_uuid, time) below, which serves both
    gateway = models.CharField(max_length=10)  # "ai" | "http" | "mcp" | "meta"
    endpoint = models.CharField(max_length=200, blank=True, default="")
    method = models.CharField(max_length=10, blank=True, default="")
    path = models.CharField(max_length=500, blank=True, default="")
    token_prefix = models.CharField(max_length=20, blank=True, default="")
    status = models.PositiveSmallIntegerField()
    latency_ms = models.FloatField(default=0)
    upstream_ms = models.FloatField(null=True, blank=True)
    bytes_in = models.BigIntegerField(default=0)
    bytes_out = models.BigIntegerField(default=0)
    provider = models.CharField(max_length=40, blank=True, default="")
    model = models.CharField(max_length=120, blank=True, default="")
    tokens_in = models.IntegerField(null=True, blank=True)
    tokens_out = models.IntegerField(null=True, blank=True)
    cost = models.DecimalField(max_digits=14, decimal_places=8, null=True, blank=True)
    guardrails = models.JSONField(default=dict, blank=True)
    attempts = models.JSONField(default=list, blank=True)
    error_code = models.CharField(max_length=60, blank=True, default="")
    request_id = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering = ["-time", "-id"]
        indexes = [models.Index(fields=["project_uuid", "time"])]

    def __str__(self) -> str:
        return f"{self.time:%Y-%m-%d %H:%M:%S} {self.method} {self.path} {self.status}"
