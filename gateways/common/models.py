"""Shared runtime state kept in the database when no Redis is configured."""

from django.db import models


class ConfigVersion(models.Model):
    """One row whose counter bumps on every config change; every process polls it to drop caches."""

    version = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"config v{self.version}"
