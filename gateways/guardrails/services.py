"""Writes of guardrail rules (management API and admin alike): validation of kind, config, action,
endpoint and the override rules of the three levels, then one save in a transaction.

Saving bumps the config version (every audited model does: gateways/common/apps.py), so every gateway
process recompiles its engines on its next request, and the audit signals write the trail.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from gateways.ai.models import AIEndpoint
from gateways.guardrails import detectors
from gateways.guardrails.models import Action, GuardrailRule
from gateways.guardrails.resolution import wider_rule
from gateways.http.models import ApiEndpoint
from gateways.mcp.models import McpServer
from projects.models import Project
from promptgate.errors import ErrorCode, PromptGateError

NAME_TAKEN = "A rule with this name already exists at this level."


def endpoint_keys(project: Project) -> set[str]:
    """What `endpoint` may name: AI endpoint slugs, API endpoint slugs and MCP server prefixes."""

    keys = set(AIEndpoint.objects.filter(project=project).values_list("slug", flat=True))
    keys |= set(ApiEndpoint.objects.filter(project=project).values_list("slug", flat=True))
    keys |= set(McpServer.objects.filter(project=project).values_list("prefix", flat=True))
    return keys


def _invalid(fields: dict[str, list[str]]) -> PromptGateError:
    return PromptGateError("Invalid input", code=ErrorCode.VALIDATION_ERROR, fields=fields)


def clean_rule(rule: GuardrailRule) -> None:
    """Validate and normalise a rule in place; raises PromptGateError (400) naming the problem."""
    errors: dict[str, list[str]] = {}
    if rule.endpoint and rule.project_id is None:
        errors["endpoint"] = ["Global rules have no endpoint."]
    elif rule.endpoint and rule.project is not None and rule.endpoint not in endpoint_keys(rule.project):
        errors["endpoint"] = ["Not an AI endpoint, API endpoint or MCP server prefix of this project."]
    wider = wider_rule(rule.project_id, rule.endpoint, rule.name) if rule.name else None
    if wider is not None and wider.pk != rule.pk:
        if wider.locked:
            raise PromptGateError(
                f"The {wider.level} rule {rule.name!r} is locked: it cannot be overridden or turned off here",
                code=ErrorCode.GUARDRAIL_LOCKED,
                status=409,
            )
        if not rule.kind:
            rule.kind = wider.kind
            if not rule.config:
                rule.config = dict(wider.config)
        elif rule.kind != wider.kind:
            errors["kind"] = [f"Overrides a {wider.level} rule of kind {wider.kind!r}: the kind must match."]
    if not rule.kind:
        errors["kind"] = ["This field is required."]
    else:
        try:
            rule.config = detectors.validate(rule.kind, rule.config)
        except detectors.ConfigError as exc:
            errors["config"] = [str(exc)]
        if rule.action == Action.REDACT and rule.kind not in detectors.REDACTABLE:
            errors["action"] = [f"{rule.kind} rules judge the whole payload: use block or warn."]
    try:
        rule.full_clean(exclude=["project", "config", "kind"], validate_constraints=False)
    except ValidationError as exc:
        for name, messages in exc.message_dict.items():
            errors.setdefault(name, []).extend(messages)
    if rule.name and _name_taken(rule):
        errors.setdefault("name", []).append(NAME_TAKEN)
    if errors:
        raise _invalid(errors)


def _name_taken(rule: GuardrailRule) -> bool:
    if rule.project_id is None:
        others = GuardrailRule.objects.filter(project__isnull=True, name=rule.name)
    else:
        others = GuardrailRule.objects.filter(
            project_id=rule.project_id, endpoint=rule.endpoint, name=rule.name
        )
    return others.exclude(pk=rule.pk).exists() if rule.pk else others.exists()


def save_rule(rule: GuardrailRule, changes: dict[str, Any]) -> GuardrailRule:
    for name, value in changes.items():
        setattr(rule, name, value)
    clean_rule(rule)
    try:
        with transaction.atomic():
            rule.save()
    except IntegrityError:
        raise _invalid({"name": [NAME_TAKEN]}) from None
    return rule


def delete_rule(rule: GuardrailRule) -> None:
    with transaction.atomic():
        rule.delete()
