"""Writing audit rows: `record` is the one entry point (signals, services and commands use it)."""

from __future__ import annotations

import logging
from typing import Any

from django.db import models

from audit import context
from audit.models import AuditLog

logger = logging.getLogger(__name__)


def object_label(model: type[models.Model]) -> str:
    return f"{model._meta.app_label}.{model._meta.model_name}"


def project_of(instance: models.Model | None) -> Any:
    """The Project an object belongs to (itself for a Project), or None for global objects."""
    if instance is None:
        return None
    if object_label(instance.__class__) == "projects.project":
        return instance
    project_id = getattr(instance, "project_id", None)
    if project_id is None:
        return None
    related: Any = instance  # any model with a project_id has its `project` relation
    try:
        return related.project
    except models.ObjectDoesNotExist:
        return None


def record(
    action: str,
    *,
    instance: models.Model | None = None,
    object_type: str = "",
    object_id: str = "",
    object_repr: str = "",
    project: Any = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    actor: context.Actor | None = None,
) -> AuditLog:
    ctx = context.current()
    actor = actor or ctx.resolved_actor()
    if instance is not None:
        # __class__, not type(): auth signals pass a lazy user wrapper whose type() has no _meta.
        object_type = object_type or object_label(instance.__class__)
        object_id = object_id or str(instance.pk)
        object_repr = object_repr or str(instance)[:200]
        project = project if project is not None else project_of(instance)
    return AuditLog.objects.create(
        actor_type=actor.kind,
        actor_id=actor.id,
        actor_label=actor.label[:150],
        action=action,
        object_type=object_type,
        object_id=object_id,
        object_repr=object_repr[:200],
        project_uuid=getattr(project, "uuid", None),
        project_name=getattr(project, "name", "") or "",
        before=before,
        after=after,
        extra=extra or {},
        ip=ctx.ip,
        request_id=ctx.request_id,
    )
