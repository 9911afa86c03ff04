"""Fixtures for the audit tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings


@pytest.fixture(autouse=True)
def _static_root() -> None:
    # WhiteNoise warns (an error under our warning filters) when STATIC_ROOT does not exist yet, as on
    # a fresh clone before collectstatic; the test Client builds the middleware chain and would trip it.
    Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)
