"""Small helpers shared by test modules."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.db import connections


def orm(fn: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    """Run ORM work from an async test in a thread, then hand its connection back.

    A connection left open in a worker thread keeps PostgreSQL from dropping the test database.
    """

    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        finally:
            connections.close_all()

    return sync_to_async(run, thread_sensitive=False)


def log_rows(project: Any, count: int = 1, timeout: float = 5.0) -> list[Any]:
    """RequestLog rows of the project, in order, once the batched writer flushed at least `count` (polled;
    what there is after `timeout`)."""
    from audit.models import RequestLog

    deadline = time.monotonic() + timeout
    while True:
        rows = list(RequestLog.objects.filter(project_uuid=project.uuid).order_by("id"))
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)
