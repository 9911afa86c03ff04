"""The shared config version: bumped after every committed config change, polled by every process.

Data-plane caches (projects, endpoints, tokens) are tagged with the version they were loaded under and
dropped when it moves. The version lives in Redis when configured, else in the ConfigVersion row, so
a change made by any process (admin, API, manage.py) reaches every gateway process within one poll.
"""

from __future__ import annotations

import logging
import threading

from django.db import models, transaction

from gateways.common import redis_clients
from gateways.common.models import ConfigVersion

logger = logging.getLogger(__name__)

VERSION_KEY = "config-version"


class LocalVersion:
    """This process's view of the version; readers on the hot path only touch `value`.

    Any difference from the shared value counts as a change (not only a larger one): Redis may
    restart empty, and a counter that went back must still invalidate.
    """

    def __init__(self) -> None:
        self.value = 0
        self.changes = 0  # how many times `value` moved; lets a poller discard a stale read
        self._lock = threading.Lock()

    def observe(self, shared: int, *, unless_changed_since: int | None = None) -> bool:
        """Adopt the shared version; True when caches must be dropped.

        With `unless_changed_since`, a read that raced a local change is ignored: the poller read
        the shared value before this process bumped it, and adopting it would undo the bump.
        """
        with self._lock:
            if unless_changed_since is not None and self.changes != unless_changed_since:
                return False
            if shared != self.value:
                self.value = shared
                self.changes += 1
                return True
            return False

    def bump_locally(self) -> None:
        with self._lock:
            self.value += 1
            self.changes += 1


local_version = LocalVersion()


def read_shared() -> int:
    """Blocking read of the shared version (the poller runs it in a thread)."""
    if redis_clients.enabled():
        raw = redis_clients.sync_client().get(redis_clients.key(VERSION_KEY))
        return int(raw or 0)

    row = ConfigVersion.objects.filter(pk=1).values_list("version", flat=True).first()
    return int(row or 0)


def _bump_shared() -> None:
    # This process adopts the new shared value itself, so its caches drop at once and the poller
    # (which compares with the shared value) does not drop them a second time.
    try:
        if redis_clients.enabled():
            local_version.observe(int(redis_clients.sync_client().incr(redis_clients.key(VERSION_KEY))))
            return

        with transaction.atomic():
            updated = ConfigVersion.objects.filter(pk=1).update(version=models.F("version") + 1)
            if not updated:
                ConfigVersion.objects.get_or_create(pk=1, defaults={"version": 1})
            local_version.observe(read_shared())
    except Exception:  # a failed bump must not undo a committed change; drop local caches anyway
        local_version.bump_locally()
        logger.exception("could not bump the shared config version")


def bump() -> None:
    """Mark config as changed once the current transaction commits (never for a rolled-back change)."""
    transaction.on_commit(_bump_shared)
