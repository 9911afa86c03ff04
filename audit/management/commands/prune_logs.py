"""`manage.py prune_logs [--dry-run]`: apply request-log and rollup retention now (audit/retention.py)."""

from __future__ import annotations

import datetime
import json
import os
import socket
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from audit.maintenance import LEASE_SECONDS, finish_pass, take_lease
from audit.retention import Pruner


class Command(BaseCommand):
    help = (
        "Delete request-log rows older than PROMPTGATE_LOG_RETENTION_DAYS and rollups older than "
        "PROMPTGATE_ROLLUP_RETENTION_DAYS (shorter per-project retention included; on PostgreSQL expired "
        "daily partitions are dropped and the coming ones made). Prints what was (or would be) removed as "
        "JSON. The request-log processes do this on their own; this runs a pass now."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Count what would go; change nothing.")
        parser.add_argument("--now", help="Prune as of this time (ISO 8601); default: the current time.")
        parser.add_argument(
            "--batch-size", type=int, help="Rows per DELETE (default PROMPTGATE_LOG_PRUNE_BATCH)."
        )

    def handle(
        self, *args: Any, dry_run: bool, now: str | None, batch_size: int | None, **options: Any
    ) -> None:
        at = timezone.now()
        if now:
            parsed = parse_datetime(now)
            if parsed is None:
                raise CommandError("--now must be an ISO 8601 time, e.g. 2026-12-01T00:00:00+00:00")
            at = parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)
        pruner = Pruner(at, dry_run=dry_run, batch_size=batch_size)
        if dry_run:
            report = pruner.run()
        else:
            holder = f"prune_logs:{socket.gethostname()}:{os.getpid()}"
            for _ in _leased(pruner, holder):
                pass
            report = pruner.report
            interval = settings.PROMPTGATE_LOG_PRUNE_INTERVAL_SECONDS or 0
            finish_pass(holder, timezone.now() + datetime.timedelta(seconds=interval))
        self.stdout.write(
            json.dumps({"dry_run": dry_run, "now": at.isoformat(), **report.as_dict()}, indent=2)
        )


def _leased(pruner: Pruner, holder: str) -> Any:
    """The pass's steps, each under the lease (renewed), so no request-log process prunes meanwhile."""
    steps = pruner.steps()
    while True:
        now = timezone.now()
        if not take_lease(holder, now + datetime.timedelta(seconds=LEASE_SECONDS), now, early=True):
            raise CommandError("another process is pruning the request log now; try again later")
        step = next(steps, None)
        if step is None:
            return
        yield step
