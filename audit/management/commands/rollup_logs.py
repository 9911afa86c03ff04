"""`manage.py rollup_logs --since DAY --until DAY`: rebuild the rollups of past days from raw rows."""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from audit import backfill


class Command(BaseCommand):
    help = (
        "Rebuild the hourly and daily rollups of whole UTC days from the raw request-log rows: the history "
        "from before the rollups existed (after the upgrade that added them), or a repair. Days before "
        "today only (today's rollups are still being written), and within PROMPTGATE_LOG_RETENTION_DAYS."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", required=True, help="First day (YYYY-MM-DD, UTC).")
        parser.add_argument(
            "--until", required=True, help="Last day, included (YYYY-MM-DD, UTC), before today."
        )

    def handle(self, *args: Any, since: str, until: str, **options: Any) -> None:
        try:
            first, last = datetime.date.fromisoformat(since), datetime.date.fromisoformat(until)
        except ValueError:
            raise CommandError("--since and --until must be days (YYYY-MM-DD)") from None
        today = timezone.now().astimezone(datetime.UTC).date()
        if last >= today:
            raise CommandError(
                f"--until must be before today ({today}): today's rollups are still being written"
            )
        kept = today - datetime.timedelta(days=settings.PROMPTGATE_LOG_RETENTION_DAYS - 1)
        if first < kept:
            raise CommandError(
                f"--since must be {kept} or later: older raw rows are pruned, and their rollups are all that is "
                "left of them"
            )
        if first > last:
            raise CommandError("--since must not be after --until")
        for day in backfill.days_between(first, last):
            written = backfill.rebuild_day(day)
            self.stdout.write(f"{day}: {written} hourly rollup rows")
