"""Pruning on its own: the request-log writers run retention one bounded step at a time, one at a time.

Every request-log process (log_process.py) calls `step()` when it is idle between batches. Across
processes and hosts a lease row (`MaintenanceLease`, taken with one atomic upsert on SQLite and
PostgreSQL alike) lets one of them prune at a time; it renews the lease on each step, and a holder that
died frees it when it expires. After a finished pass the lease is stamped to expire only at the next
pass (PROMPTGATE_LOG_PRUNE_INTERVAL_SECONDS later), so the other processes skip until then: one pass
per interval across the whole installation, with no cron to set up.
"""

from __future__ import annotations

import datetime
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audit.models import MaintenanceLease
from audit.retention import Pruner

logger = logging.getLogger(__name__)

LEASE = "prune_logs"
LEASE_SECONDS = 300  # a step takes well under a second: a holder silent this long has died
NEXT_PASS = "next-pass"  # the holder of a lease that only says when the next pass is due
RETRY_SECONDS = 60  # how often a process that found the lease taken looks again
FIRST_DELAY_SECONDS = 5.0  # after start: let the process settle first


def take_lease(
    holder: str, until: datetime.datetime, now: datetime.datetime, *, early: bool = False, name: str = LEASE
) -> bool:
    """Hold `name` until `until` if it is free, expired, or already `holder`'s (`early`: or only waiting
    for its next pass, as `prune_logs` may); one atomic statement on SQLite and PostgreSQL."""
    table = connection.ops.quote_name(MaintenanceLease._meta.db_table)
    adapt = connection.ops.adapt_datetimefield_value
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (name, holder, expires_at) VALUES (%s, %s, %s) "  # noqa: S608
            f"ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at "
            f"WHERE {table}.expires_at < %s OR {table}.holder IN (%s, %s)",
            [name, holder, adapt(until), adapt(now), holder, NEXT_PASS if early else holder],
        )
        return cursor.rowcount == 1


def finish_pass(holder: str, next_pass: datetime.datetime, name: str = LEASE) -> None:
    """A pass is done: nobody holds the lease, and no process starts another before `next_pass`."""
    MaintenanceLease.objects.filter(name=name, holder=holder).update(holder=NEXT_PASS, expires_at=next_pass)


class Maintenance:
    """Retention passes run a step at a time by one process among all (see the module docstring)."""

    def __init__(
        self,
        interval: float | None = None,
        *,
        clock: Callable[[], datetime.datetime] = timezone.now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = settings.PROMPTGATE_LOG_PRUNE_INTERVAL_SECONDS if interval is None else interval
        self.clock = clock
        self.monotonic = monotonic
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.next_try = monotonic() + min(FIRST_DELAY_SECONDS, self.interval)
        self._pass: Iterator[str] | None = None
        self.passes = 0

    @property
    def enabled(self) -> bool:
        return self.interval > 0

    def seconds_until_due(self) -> float | None:
        """How long the caller may wait for input before calling `step` (None: never due)."""
        if not self.enabled:
            return None
        if self._pass is not None:
            return 0.0
        return max(self.next_try - self.monotonic(), 0.0)

    def step(self) -> bool:
        """One bounded piece of retention if it is due and ours; True if there is more to do now."""
        if not self.enabled or (self._pass is None and self.monotonic() < self.next_try):
            return False
        try:
            return self._step()
        except Exception:  # a failing pass is retried later; the writer goes on writing
            logger.exception("request-log retention: a pruning step failed")
            self._pass = None
            self.next_try = self.monotonic() + RETRY_SECONDS
            return False

    def _step(self) -> bool:
        now = self.clock()
        if not take_lease(self.holder, now + datetime.timedelta(seconds=LEASE_SECONDS), now):
            self._pass = None
            self.next_try = self.monotonic() + min(RETRY_SECONDS, self.interval)
            return False
        if self._pass is None:
            self._pass = Pruner(now).steps()
        if next(self._pass, None) is not None:
            return True
        # Pass done: the lease now says when the next pass is due, for every process.
        self._pass = None
        self.passes += 1
        finish_pass(self.holder, now + datetime.timedelta(seconds=self.interval))
        self.next_try = self.monotonic() + self.interval
        return False
