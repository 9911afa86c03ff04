"""Small helpers shared by test modules."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
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


@contextmanager
def anthropic_sdk(gateway: Any, project_uuid: Any, token: str) -> Iterator[Any]:
    """Anthropic's own client against a project on `gateway` (once it adopted every config change so
    far), no retries; closed on the way out."""
    import anthropic

    gateway.sync_config()
    client = anthropic.Anthropic(
        base_url=gateway.url(f"/api/{project_uuid}"), api_key=token, max_retries=0, timeout=20
    )
    try:
        yield client
    finally:
        client.close()
