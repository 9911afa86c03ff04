"""The webhooks' clock: one seam, so tests drive retry schedules and expiries without sleeping."""

from __future__ import annotations

import datetime

from django.utils import timezone


def now() -> datetime.datetime:
    return timezone.now()
