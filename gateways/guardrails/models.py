"""GuardrailRule: one rule at one level (global, project, or one endpoint of a project)."""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q


class Level(models.TextChoices):
    GLOBAL = "global", "Global"
    PROJECT = "project", "Project"
    ENDPOINT = "endpoint", "Endpoint"


class Kind(models.TextChoices):
    PII = "pii", "PII"
    SECRETS = "secrets", "Secrets"
    REGEX = "regex", "Regex"
    KEYWORDS = "keywords", "Keywords"
    MAX_SIZE = "max_size", "Maximum size"
    INJECTION = "injection", "Prompt injection"
    JSON_SCHEMA = "json_schema", "JSON schema"


class Stage(models.TextChoices):
    INPUT = "input", "Input"
    OUTPUT = "output", "Output"
    BOTH = "both", "Both"


class Action(models.TextChoices):
    BLOCK = "block", "Block"
    REDACT = "redact", "Redact"
    WARN = "warn", "Warn (record only)"


# Names travel in the X-PromptGate-Guardrails header: no commas, semicolons or spaces.
RULE_NAME = RegexValidator(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$", "Letters, digits, '.', '_' and '-'")


# A rule's body past where it applies (level, project, endpoint) and its name, in the order the
# management API and the admin form both list them.
RULE_FIELDS = ("kind", "stage", "action", "config", "enabled", "locked", "description")


class GuardrailRule(models.Model):
    """A rule; its level follows from `project` (none: global) and `endpoint` (set: endpoint level).

    `endpoint` is an AI endpoint slug, an API endpoint slug or an MCP server prefix of the project.
    A narrower rule with a wider rule's name overrides it (or turns it off), unless the wider is locked.
    """

    project = models.ForeignKey(
        "projects.Project", null=True, blank=True, on_delete=models.CASCADE, related_name="guardrail_rules"
    )
    endpoint = models.CharField(max_length=100, blank=True, default="")
    name = models.CharField(max_length=100, validators=[RULE_NAME])
    kind = models.CharField(max_length=20, choices=Kind.choices)
    stage = models.CharField(max_length=10, choices=Stage.choices, default=Stage.BOTH)
    action = models.CharField(max_length=10, choices=Action.choices, default=Action.BLOCK)
    config = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    locked = models.BooleanField(
        default=False, help_text="Narrower levels may not override or turn off this rule."
    )
    description = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["project_id", "endpoint", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["name"], condition=Q(project__isnull=True), name="unique_global_guardrail_name"
            ),
            models.UniqueConstraint(
                fields=["project", "endpoint", "name"],
                condition=Q(project__isnull=False),
                name="unique_project_guardrail_name",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.level}:{self.endpoint + ':' if self.endpoint else ''}{self.name}"

    @property
    def level(self) -> str:
        # Plain strings, not the enum: levels travel in pickled log rows to a process without Django apps.
        if self.project_id is None:
            return Level.GLOBAL.value
        return Level.ENDPOINT.value if self.endpoint else Level.PROJECT.value
