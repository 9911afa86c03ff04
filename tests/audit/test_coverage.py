"""Every model of PromptGate's apps writes an audit row on create, update and delete.

The walk is generic: a new model is picked up automatically, built from dummy values by field type,
and the test fails (rather than skipping it) when it cannot build one, so no model escapes its trail.
"""

from __future__ import annotations

import datetime
import decimal
import itertools
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models
from django.utils import timezone

from audit.models import AuditLog
from audit.services import object_label
from audit.signals import AUDITED_APPS, NOT_AUDITED
from audit.snapshots import IGNORED_FIELDS, is_secret_field
from projects.models import Project

_counter = itertools.count(1)


def audited_models() -> list[type[models.Model]]:
    return [
        model
        for model in apps.get_models()
        if model._meta.app_label in AUDITED_APPS
        and model._meta.label_lower not in NOT_AUDITED
        and not model._meta.auto_created
    ]


class NoFactory(Exception):
    """The generic builder met a field it cannot fill: add a factory to FACTORIES."""


class Builder:
    """Builds a saved instance of any model from dummy values, following foreign keys recursively."""

    def __init__(self, project: Project, user: Any) -> None:
        self.project = project
        self.user = user

    def related(self, model: type[models.Model]) -> models.Model:
        if model is Project:
            return self.project
        if model is get_user_model():
            return self.user
        return self.create(model)

    def create(self, model: type[models.Model]) -> models.Model:
        factory = FACTORIES.get(model._meta.label_lower)
        if factory is not None:
            return factory(self)
        kwargs = {}
        for field in model._meta.concrete_fields:
            if field.primary_key or not required(field):
                continue
            kwargs[field.attname if field.is_relation else field.name] = self.value(model, field)
        return model.objects.create(**kwargs)

    def value(self, model: type[models.Model], field: models.Field) -> Any:
        if field.is_relation:
            return self.related(field.related_model).pk
        n = next(_counter)
        if field.choices:
            return field.choices[0][0]
        return dummy_value(model, field, n)


def required(field: models.Field) -> bool:
    if field.has_default() or field.null or getattr(field, "auto_now", False):
        return False
    return not getattr(field, "auto_now_add", False)


def dummy_value(model: type[models.Model], field: models.Field, n: int) -> Any:
    """A valid value for a field by its type; NoFactory for a type we do not know."""
    max_length = field.max_length or 100
    text = f"dummy-{n}"[:max_length]
    if isinstance(field, models.EmailField):
        return f"dummy{n}@example.com"
    if isinstance(field, models.URLField):
        return f"https://example.com/{n}"
    if isinstance(field, models.GenericIPAddressField):
        return "192.0.2.1"
    if isinstance(field, models.CharField | models.TextField):  # Slug and encrypted fields included
        return text
    if isinstance(field, models.BooleanField):
        return False
    if isinstance(field, models.IntegerField | models.FloatField):
        return n
    if isinstance(field, models.DecimalField):
        return decimal.Decimal(1)
    if isinstance(field, models.DateTimeField):
        return timezone.now()
    if isinstance(field, models.DateField):
        return datetime.date.today()
    if isinstance(field, models.DurationField):
        return datetime.timedelta(seconds=n)
    if isinstance(field, models.UUIDField):
        return uuid.uuid4()
    if isinstance(field, models.JSONField):
        return {}
    if isinstance(field, models.BinaryField):
        return b"dummy"
    raise NoFactory(f"{model._meta.label_lower}.{field.name}: no dummy value for {type(field).__name__}")


def update_one_field(instance: models.Model) -> str:
    """Change one plain, audited field (one whose change is a state change, not bookkeeping)."""
    model = type(instance)
    for field in model._meta.concrete_fields:
        if (
            field.primary_key
            or field.is_relation
            or not field.editable
            or field.unique
            or field.name in IGNORED_FIELDS
            or is_secret_field(model, field)
        ):
            continue
        current = getattr(instance, field.attname)
        new = changed_value(field, current)
        if new is not None:
            setattr(instance, field.attname, new)
            instance.save()
            return field.name
    raise NoFactory(f"{model._meta.label_lower}: no field the generic update knows how to change")


def changed_value(field: models.Field, current: Any) -> Any:
    if field.choices:
        others = [value for value, _ in field.flatchoices if value != current]
        return others[0] if others else None
    if isinstance(field, models.BooleanField):
        return not current
    if isinstance(field, models.CharField | models.TextField) and not isinstance(
        field, models.EmailField | models.URLField
    ):
        return (f"{current}-u" if current else "changed")[: field.max_length or 100]
    if isinstance(field, models.IntegerField) and not isinstance(field, models.AutoField):
        return (current or 0) + 1
    if isinstance(field, models.JSONField):
        return [1] if current == {} else {"changed": True}
    return None


# Models the generic builder cannot make on its own: label -> callable(builder) returning a saved
# instance. Keep it small; the point of the walk is that most models need nothing here.
FACTORIES: dict[str, Callable[[Builder], models.Model]] = {}


def test_the_walk_covers_the_known_models():
    labels = {m._meta.label_lower for m in audited_models()}
    assert {"projects.project", "projects.membership", "projects.apitoken"} <= labels
    assert "common.configversion" not in labels


def test_every_project_app_is_audited():
    """A new app of ours must join AUDITED_APPS (or its models would escape the trail unseen)."""
    base = Path(settings.BASE_DIR).resolve()
    venv = base / ".venv"
    ours = set()
    for config in apps.get_app_configs():
        path = Path(config.path).resolve()
        if path.is_relative_to(base) and not path.is_relative_to(venv):
            ours.add(config.label)
    assert ours - AUDITED_APPS == set()


@pytest.mark.django_db
@pytest.mark.parametrize("label", sorted(m._meta.label_lower for m in audited_models()))
def test_model_writes_audit_rows_on_create_update_delete(label, project, make_user):
    model = apps.get_model(label)
    builder = Builder(project, make_user(f"coverage-{next(_counter)}"))
    try:
        instance = builder.create(model)
    except NoFactory as exc:
        pytest.fail(f"cannot build {label} generically ({exc}); add it to FACTORIES")
    pk = str(instance.pk)
    object_type = object_label(model)

    try:
        changed = update_one_field(instance)
    except NoFactory as exc:
        pytest.fail(str(exc))
    instance.delete()

    rows = AuditLog.objects.filter(object_type=object_type, object_id=pk)
    assert rows.filter(action="create").count() == 1, f"{label}: no audit row on create"
    update = rows.filter(action="update").first()
    assert update is not None, f"{label}: no audit row on update of {changed}"
    assert changed in update.after and changed in update.before
    assert rows.filter(action="delete").count() == 1, f"{label}: no audit row on delete"
