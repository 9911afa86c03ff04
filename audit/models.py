"""AuditLog (append-only change history) and RequestLog (one row per proxied call)."""

from __future__ import annotations

from typing import Any, NoReturn

from django.db import models

from audit.choices import Gateway


class AppendOnlyError(Exception):
    """Audit rows are never changed or removed (PostgreSQL also enforces it with a trigger)."""


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("audit log rows cannot be updated")

    def delete(self) -> NoReturn:
        raise AppendOnlyError("audit log rows cannot be deleted")


# Who did what to which object, in which project: the columns every view of an audit row shows first.
AUDIT_SUMMARY_FIELDS = (
    "time",
    "actor_type",
    "actor_id",
    "actor_label",
    "action",
    "object_type",
    "object_id",
    "object_repr",
    "project_uuid",
    "project_name",
)


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
    gateway = models.CharField(max_length=10, choices=Gateway.choices)
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
        # What the management API's search reads, newest first within one project (audit/search.py):
        # the project's rows, its rows per endpoint or token, and its errors. Other filters (model,
        # status, latency) narrow the rows one of these indexes walks.
        indexes = [
            models.Index(fields=["project_uuid", "time"]),
            models.Index(fields=["project_uuid", "endpoint", "time"], name="audit_reqlog_endpoint"),
            models.Index(fields=["project_uuid", "token_prefix", "time"], name="audit_reqlog_token"),
            models.Index(
                fields=["project_uuid", "time"],
                condition=models.Q(status__gte=400),
                name="audit_reqlog_errors",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.time:%Y-%m-%d %H:%M:%S} {self.method} {self.path} {self.status}"


# --- Rollups, written with the raw rows (audit/rollups.py) ----------------------------------------
# Upper bounds (ms, inclusive) of the latency histogram's buckets; the last bucket is open-ended.
# A ratio of ~1.5 between neighbours: a percentile read from the histogram is within one bucket.
LATENCY_BUCKETS_MS: tuple[float, ...] = (
    1, 2, 3, 5, 8, 13, 20, 30, 50, 75, 100, 150,
    200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000, 30000, float("inf"),
)  # fmt: skip
LATENCY_COLUMNS: tuple[str, ...] = tuple(f"lat_{i:02}" for i in range(len(LATENCY_BUCKETS_MS)))
ROLLUP_DIMENSIONS = (
    "project_uuid",
    "gateway",
    "endpoint",
    "token_prefix",
    "provider",
    "model",
    "status_class",
)
ROLLUP_SUMS = (
    "requests",
    "errors",
    "bytes_in",
    "bytes_out",
    "tokens_in",
    "tokens_out",
    "cost_nanos",
    "latency_ms_sum",
    *LATENCY_COLUMNS,
)


class RollupSums(models.Model):
    """What a rollup row adds up. Every sum is a column, so an upsert adds with plain SQL on any database;
    cost in nano-USD integers, so sums are exact on SQLite too (it has no decimal arithmetic)."""

    requests = models.BigIntegerField(default=0)
    errors = models.BigIntegerField(default=0)  # status >= 400
    bytes_in = models.BigIntegerField(default=0)
    bytes_out = models.BigIntegerField(default=0)
    tokens_in = models.BigIntegerField(default=0)
    tokens_out = models.BigIntegerField(default=0)
    cost_nanos = models.BigIntegerField(default=0)
    latency_ms_sum = models.FloatField(default=0)

    class Meta:
        abstract = True


for _column in LATENCY_COLUMNS:  # lat_00 … lat_23: requests per latency bucket
    RollupSums.add_to_class(_column, models.BigIntegerField(default=0))


class RollupCounts(RollupSums):
    """The sums per every dimension of ROLLUP_DIMENSIONS (the hourly and daily rollups)."""

    project_uuid = models.UUIDField()
    gateway = models.CharField(max_length=10)
    endpoint = models.CharField(max_length=200, blank=True, default="")
    token_prefix = models.CharField(max_length=20, blank=True, default="")
    provider = models.CharField(max_length=40, blank=True, default="")
    model = models.CharField(max_length=120, blank=True, default="")
    status_class = models.PositiveSmallIntegerField()  # status // 100: 2, 3, 4 or 5

    class Meta:
        abstract = True


class HourlyRollup(RollupCounts):
    """Request-log sums per hour and dimensions; added to by every writer process in the batch's
    transaction (INSERT … ON CONFLICT DO UPDATE), so any number of writers agree."""

    hour = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["hour", *ROLLUP_DIMENSIONS], name="audit_hourlyrollup_key")
        ]
        indexes = [models.Index(fields=["project_uuid", "hour"])]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}h {self.project_uuid} {self.endpoint} {self.requests}"


class DailyRollup(RollupCounts):
    """The hourly sums per UTC day, derived from HourlyRollup once the day is over (retention passes,
    audit/rollups.py `derive_daily`): a year of history is 365 rows per key."""

    day = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", *ROLLUP_DIMENSIONS], name="audit_dailyrollup_key")
        ]
        indexes = [models.Index(fields=["project_uuid", "day"])]

    def __str__(self) -> str:
        return f"{self.day} {self.project_uuid} {self.endpoint} {self.requests}"


# The coarse levels keep the project and the gateway only: what the usage report asks of a long range
# most often (per day, per project, all projects), in a few hundred rows a day whatever the tokens,
# endpoints and models (audit/rollups.py derives them with the daily rows).
COARSE_DIMENSIONS = ("project_uuid", "gateway")


class ProjectDailyRollup(RollupSums):
    """DailyRollup summed per day, project and gateway (derived with it, same transaction)."""

    day = models.DateField()
    project_uuid = models.UUIDField()
    gateway = models.CharField(max_length=10)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", *COARSE_DIMENSIONS], name="audit_projectdailyrollup_key")
        ]
        indexes = [models.Index(fields=["project_uuid", "day"])]

    def __str__(self) -> str:
        return f"{self.day} {self.project_uuid} {self.gateway} {self.requests}"


class ProjectMonthlyRollup(RollupSums):
    """ProjectDailyRollup summed per calendar month (`month`: its first day), project and gateway:
    twelve rows per project and gateway for a year. A month's row holds its derived days so far."""

    month = models.DateField()
    project_uuid = models.UUIDField()
    gateway = models.CharField(max_length=10)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["month", *COARSE_DIMENSIONS], name="audit_projectmonthlyrollup_key"
            )
        ]
        indexes = [models.Index(fields=["project_uuid", "month"])]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.project_uuid} {self.gateway} {self.requests}"


# Across projects, per model: what an operator asks of a long range by model or provider ("what did
# gpt-4o cost us this year"). Without it such a question reads every daily row of the range (3 M for a
# year at 10 M requests, ~3 s); with it, a few rows a day. Project-scoped readers cannot use it (it has
# no project), so the usage report reads it only for a reader who sees every project.
MODEL_DIMENSIONS = ("gateway", "provider", "model")


class ModelDailyRollup(RollupSums):
    """DailyRollup summed per day, gateway, provider and model over every project (derived with it)."""

    day = models.DateField()
    gateway = models.CharField(max_length=10)
    provider = models.CharField(max_length=40, blank=True, default="")
    model = models.CharField(max_length=120, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", *MODEL_DIMENSIONS], name="audit_modeldailyrollup_key")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.gateway} {self.provider} {self.model} {self.requests}"


class RequestLogBatch(models.Model):
    """Batches already written: a re-sent batch finds its id here and is skipped (idempotent writes)."""

    batch_id = models.CharField(max_length=36, primary_key=True)
    written_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.batch_id


class LogRetention(models.Model):
    """A project's own retention, shorter than the global one (PROMPTGATE_*_RETENTION_DAYS)."""

    project_uuid = models.UUIDField(unique=True)  # a value, like the logs it governs
    log_days = models.PositiveIntegerField(null=True, blank=True)
    rollup_days = models.PositiveIntegerField(null=True, blank=True)

    def __str__(self) -> str:
        return f"retention of {self.project_uuid}"


class MaintenanceLease(models.Model):
    """One holder at a time of a background job (pruning) across processes and hosts."""

    name = models.CharField(max_length=40, primary_key=True)
    holder = models.CharField(max_length=120)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} held by {self.holder} until {self.expires_at}"


class RollupProgress(models.Model):
    """How far the daily rollup has been derived from the hourly one: every day before `derived_until`
    (usage reads those days from DailyRollup, the later ones from HourlyRollup)."""

    name = models.CharField(max_length=40, primary_key=True)
    derived_until = models.DateField()

    def __str__(self) -> str:
        return f"{self.name}: derived until {self.derived_until}"
