"""A test-only model holding encrypted fields, registered and unregistered around the tests using it.

Defined inside a function rather than at module level: a module-level class would stay registered in
the app registry for the whole test session, where the audit-coverage walk, makemigrations checks and
table dumps would all trip over a model with no migration and (outside the fixture) no table.
"""

from __future__ import annotations

from django.apps import apps
from django.db import models

from credentials.fields import EncryptedTextField

PROBE_TABLE = "credentials_test_rotationprobe"


def register_probe_model() -> type[models.Model]:
    class RotationProbe(models.Model):
        name = models.CharField(max_length=50, default="")
        secret = EncryptedTextField()
        other = EncryptedTextField(null=True)

        class Meta:
            app_label = "credentials"
            db_table = PROBE_TABLE

        def __str__(self) -> str:
            return self.name

    return RotationProbe


def unregister_probe_model(model: type[models.Model]) -> None:
    apps.all_models[model._meta.app_label].pop(model._meta.model_name, None)
    apps.clear_cache()
