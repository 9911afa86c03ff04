"""`manage.py webhook_worker`: django-tasks-db's worker on the webhooks queue, plus the webhooks' upkeep.

The upkeep (re-queueing deliveries whose worker died, `token.expiring`) runs in a thread of the worker
every PROMPTGATE_WEBHOOK_UPKEEP_SECONDS; several workers may run it at once.
"""

from __future__ import annotations

import logging
import threading
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connections
from django_tasks_db.management.commands import db_worker

from gateways.common.db import release_connections
from webhooks import tasks

logger = logging.getLogger("webhooks.worker")


def _upkeep_loop(stop: threading.Event, every: float) -> None:
    while not stop.wait(every):
        try:
            close_old_connections()
            tasks.upkeep()
        except Exception:  # the next round tries again; the worker itself keeps delivering
            logger.exception("webhook upkeep failed")
        finally:
            release_connections()


class Command(db_worker.Command):
    help = "Deliver webhooks (a django-tasks-db worker on the 'webhooks' queue) and run their upkeep"

    def add_arguments(self, parser: ArgumentParser) -> None:
        super().add_arguments(parser)
        parser.set_defaults(queue_name="webhooks", reload=False)

    def handle(self, *args: Any, **options: Any) -> None:
        connection = connections["default"]
        if connection.vendor == "sqlite":
            # Keep the worker's one SQLite connection: reopening it for every task (CONN_MAX_AGE = 0,
            # right for ASGI) cost more than the delivery. PostgreSQL connections come from the pool.
            connection.settings_dict["CONN_MAX_AGE"] = None
        stop = threading.Event()
        thread = threading.Thread(
            target=_upkeep_loop,
            args=(stop, settings.PROMPTGATE_WEBHOOK_UPKEEP_SECONDS),
            name="webhook-upkeep",
            daemon=True,
        )
        thread.start()
        try:
            super().handle(*args, **options)
        finally:
            stop.set()
