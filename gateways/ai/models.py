"""AI gateway models: model aliases, usage limits, AI endpoints and their sessions."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from audit.models import RequestLog


class ModelAlias(models.Model):
    """`fast` → `openai:gpt-4o-mini` (or a template name), per project."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="model_aliases")
    alias = models.CharField(max_length=100)
    target = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "model alias"
        verbose_name_plural = "model aliases"
        constraints = [models.UniqueConstraint(fields=["project", "alias"], name="unique_model_alias")]
        ordering = ["project_id", "alias"]

    def __str__(self) -> str:
        return f"{self.alias} → {self.target}"


class UsageLimit(models.Model):
    """Budgets (in USD) and rates for a project, or for one of its tokens when `token` is set."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="usage_limits")
    token = models.ForeignKey(
        "projects.ApiToken", null=True, blank=True, on_delete=models.CASCADE, related_name="usage_limits"
    )
    daily_budget = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    monthly_budget = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    requests_per_minute = models.PositiveIntegerField(null=True, blank=True)
    tokens_per_minute = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "budget and rate limit"
        verbose_name_plural = "budgets and rate limits"
        constraints = [
            models.UniqueConstraint(fields=["project", "token"], name="unique_usage_limit"),
            models.UniqueConstraint(
                fields=["project"], condition=models.Q(token__isnull=True), name="unique_project_usage_limit"
            ),
        ]

    def __str__(self) -> str:
        return f"limits of {self.token or self.project}"


class PriceOverride(models.Model):
    """A price (USD per 1M tokens) that wins over the shipped table (gateways/ai/prices.json)."""

    provider = models.CharField(max_length=40, blank=True, default="", help_text="Empty: any provider")
    model = models.CharField(max_length=200)
    input_per_million = models.DecimalField(max_digits=12, decimal_places=6)
    output_per_million = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["provider", "model"], name="unique_price_override")]
        ordering = ["provider", "model"]

    def __str__(self) -> str:
        return f"{self.provider or '*'}:{self.model}"


class BudgetCounter(models.Model):
    """Spend (nano-USD) of one budget window, when no Redis is configured.

    The one gateway process counts in memory and persists absolute values write-behind from its writer
    thread (gateways/ai/budget_store.py), with raw upserts: no signals, so no audit row and no
    config-version bump per request. Read once per window when the process first touches it, so a
    restart keeps the day's and month's spend; expired windows are pruned now and then.
    """

    key = models.CharField(max_length=200, unique=True)
    value = models.BigIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.key} = {self.value}"


class UsageReport(RequestLog):
    """The admin's "Usage and cost" page: AI request logs aggregated per day (no table of its own)."""

    class Meta:
        proxy = True
        verbose_name = "usage and cost"
        verbose_name_plural = "usage and cost"


SLUG_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"  # also a valid MCP tool name (the bridge lists slugs as names)
VARIABLE_TYPES = ("string", "number", "integer", "boolean", "object", "array")


# An AI endpoint's settings, in the order the management API and the admin form both list them.
ENDPOINT_FIELDS = (
    "slug",
    "description",
    "chain",
    "system_prompt",
    "user_prompt",
    "variables",
    "output_schema",
    "parameters",
    "stream_allowed",
    "sessions_enabled",
    "session_history_limit",
    "session_ttl_seconds",
    "mcp_tool",
    "rate_limit_per_minute",
    "daily_budget",
    "enabled",
)


class AIEndpoint(models.Model):
    """A prompt published as an API: chain, templates with declared variables, contract and limits.

    Validation of chain, variables, schema and placeholders lives in gateways/ai/config.py (clean()).
    """

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="ai_endpoints")
    slug = models.CharField(
        max_length=64,
        validators=[RegexValidator(SLUG_PATTERN, "Letters, digits, _ and - only (at most 64).")],
    )
    description = models.CharField(max_length=1000, blank=True, default="")
    chain = models.JSONField(
        default=list, help_text='Primary then fallbacks: [{"provider", "model"} | {"template"} | {"alias"}]'
    )
    system_prompt = models.TextField(blank=True, default="")
    user_prompt = models.TextField()
    variables = models.JSONField(
        default=list, blank=True, help_text="[{name, type, required, default, description}]"
    )
    output_schema = models.JSONField(null=True, blank=True, help_text="JSON Schema of the answer")
    parameters = models.JSONField(
        default=dict, blank=True, help_text="Extra chat parameters (temperature, max_tokens, …)"
    )
    stream_allowed = models.BooleanField(default=True)
    sessions_enabled = models.BooleanField(default=False)
    session_history_limit = models.PositiveIntegerField(
        default=20, validators=[MinValueValidator(2), MaxValueValidator(1000)], help_text="Messages kept"
    )
    session_ttl_seconds = models.PositiveIntegerField(
        default=3600, validators=[MinValueValidator(60), MaxValueValidator(90 * 86400)]
    )
    mcp_tool = models.BooleanField(default=False, help_text="List on the project's MCP bridge")
    rate_limit_per_minute = models.PositiveIntegerField(null=True, blank=True)
    daily_budget = models.DecimalField(
        max_digits=12, decimal_places=4, null=True, blank=True, help_text="USD per day for this endpoint"
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "slug"], name="unique_ai_endpoint_slug")]
        ordering = ["project_id", "slug"]
        verbose_name = "AI endpoint"

    def __str__(self) -> str:
        return self.slug

    def clean(self) -> None:
        from gateways.ai.config import validate_endpoint  # local: config imports this module (a cycle)

        validate_endpoint(self)


class Session(models.Model):
    """Conversation state of one AI endpoint, shared by all processes.

    Turns are written with queryset updates (no signals: no audit row and no config bump per call);
    `lock_token`/`locked_until` is the cross-process lease that serialises calls when there is no Redis.
    """

    endpoint = models.ForeignKey(AIEndpoint, on_delete=models.CASCADE, related_name="sessions")
    key = models.CharField(max_length=128)
    messages = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    lock_token = models.CharField(max_length=64, blank=True, default="")
    locked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["endpoint", "key"], name="unique_ai_session_key")]
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return self.key


class StoredResponse(models.Model):
    """A Responses API answer kept for GET /v1/responses/{id} and `previous_response_id` (no Redis).

    Written with bulk inserts and deleted with raw SQL (responses_store.py): no signals, so no audit row
    and no config bump per call; rows past `expires_at` are swept now and then.
    """

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="+")
    response_id = models.CharField(max_length=100)
    data = models.JSONField()  # {"response": the Response object, "input": the full input items}
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "response_id"], name="unique_ai_stored_response")
        ]

    def __str__(self) -> str:
        return self.response_id
