"""Fixtures for the operational tests: the encrypted-field probe model and a static root."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from tests.credentials.conftest import probe_model  # noqa: F401  (shared fixture)


@pytest.fixture(autouse=True)
def _static_root() -> None:
    # WhiteNoise warns (an error here) when STATIC_ROOT does not exist, as on a fresh clone.
    Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)
