"""Fixtures for credentials tests: a temporary model with encrypted fields and its table."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection, models

from tests.credentials.models_for_tests import register_probe_model, unregister_probe_model


@pytest.fixture
def probe_model(transactional_db: None) -> Iterator[type[models.Model]]:
    # transactional_db: SQLite's schema editor refuses to run inside the per-test transaction.
    model = register_probe_model()
    try:
        with connection.schema_editor() as editor:
            editor.create_model(model)
        try:
            yield model
        finally:
            with connection.schema_editor() as editor:
                editor.delete_model(model)
    finally:
        unregister_probe_model(model)
