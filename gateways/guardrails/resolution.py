"""Resolution of the three levels, global → project → endpoint, into the rules that apply.

A narrower rule of the same name replaces a wider one (its stage, action, config, or `enabled: false`
to turn it off) unless the wider one is `locked`, in which case the narrower row is ignored (and
refused at save). Rules of other names add up. The result keeps, for each rule, the level it comes
from and the levels it overrode: the management API's and the admin's effective view show exactly that.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from gateways.guardrails.models import GuardrailRule, Level


@dataclass(frozen=True, slots=True)
class EffectiveRule:
    name: str
    kind: str
    stage: str
    action: str
    config: dict[str, Any]
    enabled: bool
    locked: bool
    description: str
    level: str
    rule_id: int | None = None
    endpoint: str = ""
    overrides: tuple[str, ...] = field(default=())  # the wider levels this rule replaced

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.rule_id,
            "name": self.name,
            "kind": self.kind,
            "stage": self.stage,
            "action": self.action,
            "config": self.config,
            "enabled": self.enabled,
            "locked": self.locked,
            "description": self.description,
            "level": self.level,
            "endpoint": self.endpoint,
            "overrides": list(self.overrides),
        }


def effective(rule: GuardrailRule) -> EffectiveRule:
    return EffectiveRule(
        name=rule.name,
        kind=rule.kind,
        stage=rule.stage,
        action=rule.action,
        config=dict(rule.config or {}),
        enabled=rule.enabled,
        locked=rule.locked,
        description=rule.description,
        level=rule.level,
        rule_id=rule.pk,
        endpoint=rule.endpoint,
    )


def resolve(levels: Iterable[Iterable[EffectiveRule]]) -> list[EffectiveRule]:
    """Merge the levels, widest first; the order of first appearance is kept."""
    merged: dict[str, EffectiveRule] = {}
    for rules in levels:
        for rule in rules:
            wider = merged.get(rule.name)
            if wider is None:
                merged[rule.name] = rule
            elif not wider.locked:
                merged[rule.name] = _replace(rule, overrides=(*wider.overrides, wider.level))
    return list(merged.values())


def _replace(rule: EffectiveRule, **changes: Any) -> EffectiveRule:
    return replace(rule, **changes)


def wider_rule(project_id: int | None, endpoint: str, name: str) -> GuardrailRule | None:
    """The rule a new rule at (project, endpoint) named `name` would override, if any (the narrowest)."""
    if project_id is None:
        return None
    candidates = GuardrailRule.objects.filter(name=name, project__isnull=True)
    found = candidates.first()
    if endpoint:
        project_rule = GuardrailRule.objects.filter(name=name, project_id=project_id, endpoint="").first()
        if found is None or (project_rule is not None and not found.locked):
            found = project_rule or found
    return found


def resolve_guardrails(project_id: int | None, endpoint: str = "") -> list[EffectiveRule]:
    """The effective rules of a project (and one of its endpoints); global rules alone without a project."""
    rows = GuardrailRule.objects.filter(project__isnull=True)
    if project_id is not None:
        rows = GuardrailRule.objects.filter(project__isnull=True) | GuardrailRule.objects.filter(
            project_id=project_id, endpoint__in=["", endpoint] if endpoint else [""]
        )
    by_level: dict[str, list[EffectiveRule]] = {Level.GLOBAL: [], Level.PROJECT: [], Level.ENDPOINT: []}
    for row in rows.order_by("created_at", "id"):
        by_level[row.level].append(effective(row))
    return resolve([by_level[Level.GLOBAL], by_level[Level.PROJECT], by_level[Level.ENDPOINT]])
