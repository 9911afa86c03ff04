"""The data plane's only door to the database: blocking ORM work in a worker thread, never on the loop."""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.db import connections

P = ParamSpec("P")
T = TypeVar("T")


class DbCallCounter:
    """Counts data-plane database calls; tests assert a warm request makes none."""

    def __init__(self) -> None:
        self.calls = 0


counter = DbCallCounter()


def release_connections() -> None:
    """Hand back this thread's connections once its database work is done.

    Under ASGI no request_finished signal does it for us. PostgreSQL connections go back to Django's
    pool (cheap, and a pool connection must not be held by an idle thread). An SQLite connection
    stays open with its thread: reopening one costs more than most of the queries it serves, and
    the worker threads are few. A connection that saw an error and is no longer usable is closed.
    """
    for conn in connections.all(initialized_only=True):
        if conn.vendor != "sqlite":
            conn.close()
        elif conn.errors_occurred and not conn.is_usable():
            conn.close()


def _closing(fn: Callable[P, T]) -> Callable[P, T]:
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        finally:
            release_connections()

    return run


async def run_sync(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    counter.calls += 1
    return await sync_to_async(_closing(fn), thread_sensitive=False)(*args, **kwargs)
