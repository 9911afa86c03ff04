"""Per-process data-plane runtime: config cache, writers, counters and the shared HTTP client.

The ASGI lifespan calls `startup` and `shutdown`; everything also starts lazily so the app works when
driven without a lifespan (tests with an in-process transport).

State the process keeps in memory outside any one Runtime (the rate limiter's fallback counters, MCP
list pages and eras, upstream health, in-flight OAuth refreshes, budget counters...) is registered in
process_state.py; `Runtime.reset_process_state()` forgets all of it (tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
from collections import Counter
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections, models
from django.utils import timezone

from audit.maintenance import Maintenance
from gateways.common import heap, process_state, redis_clients, versioning
from gateways.common.config import ConfigCache
from gateways.common.counters import TokenRequestCounter
from gateways.common.log_process import RequestLogProcess
from gateways.common.logrows import RequestLogRow, write_request_logs
from gateways.common.transport import http_client
from gateways.common.writer import BatchedWriter
from projects.models import ApiToken

logger = logging.getLogger(__name__)

__all__ = ["Runtime", "write_request_logs", "write_token_usage"]
TokenUse = tuple[int, float]  # (token id, epoch seconds)


def write_token_usage(uses: list[TokenUse]) -> None:
    """One UPDATE per token per batch: request_count += n, last_used_at = latest use."""

    per_token: dict[int, tuple[int, float]] = {}
    for token_id, at in uses:
        count, latest = per_token.get(token_id, (0, 0.0))
        per_token[token_id] = (count + 1, max(latest, at))
    for token_id, (count, latest) in per_token.items():
        # queryset.update: no signals, so usage stamps neither audit nor invalidate config.
        ApiToken.objects.filter(pk=token_id).update(
            request_count=models.F("request_count") + count,
            last_used_at=datetime.datetime.fromtimestamp(latest, tz=datetime.UTC),
        )


def _request_log_writer() -> BatchedWriter[RequestLogRow]:
    """Batches written by a process of their own (log_process.py explains why), or by this one."""
    sizes: dict[str, Any] = {  # max_queue and batch_size are ints, interval a float
        "max_queue": settings.PROMPTGATE_WRITER_QUEUE_SIZE,
        "batch_size": settings.PROMPTGATE_WRITER_BATCH_SIZE,
        "interval": settings.PROMPTGATE_WRITER_FLUSH_SECONDS,
    }
    if not settings.PROMPTGATE_REQUEST_LOG_PROCESS:
        maintenance = Maintenance()

        def write_then_prune(rows: list[RequestLogRow]) -> None:
            write_request_logs(rows)
            maintenance.step()  # retention, one bounded step per batch (the child does it when idle)

        return BatchedWriter("request-log", write_then_prune, **sizes)
    child = RequestLogProcess()
    return BatchedWriter("request-log", child, on_start=child.start, on_stop=child.close, **sizes)


class Metrics:
    """Prometheus counters of this process (exposed at /metrics)."""

    def __init__(self) -> None:
        self.requests: Counter[tuple[str, int]] = Counter()

    def count(self, gateway: str, status: int) -> None:
        self.requests[(gateway, status)] += 1


class Runtime:
    def __init__(self) -> None:
        self.config = ConfigCache()
        self.token_counter = TokenRequestCounter()
        self.metrics = Metrics()
        self.request_logs: BatchedWriter[RequestLogRow] = _request_log_writer()
        self.token_usage: BatchedWriter[TokenUse] = BatchedWriter(
            "token-usage",
            write_token_usage,
            max_queue=settings.PROMPTGATE_WRITER_QUEUE_SIZE,
            batch_size=settings.PROMPTGATE_WRITER_BATCH_SIZE,
            interval=settings.PROMPTGATE_WRITER_FLUSH_SECONDS,
        )
        self.extra_writers: list[BatchedWriter[Any]] = []  # registered by gateways: AI budget counters
        self._poller: asyncio.Task[None] | None = None
        self._stopping: asyncio.Event | None = None
        self.started_at = timezone.now()

    @staticmethod
    def reset_process_state() -> None:
        """Forget what this process learnt between requests, in every module (see process_state.py)."""
        process_state.reset()

    @property
    def writers(self) -> list[BatchedWriter[Any]]:
        return [self.request_logs, self.token_usage, *self.extra_writers]

    async def startup(self) -> None:
        for writer in self.writers:
            writer.start()

        await http_client.open_client()
        self._stopping = asyncio.Event()  # created here: an Event belongs to the loop that serves
        self._poller = asyncio.create_task(self._poll_config_version(), name="config-version-poller")
        heap.tune_for_serving(settings.PROMPTGATE_GC_GEN0_THRESHOLD or 0)

    async def shutdown(self) -> None:
        if self._poller is not None and self._stopping is not None:
            # Ask the poller to stop rather than cancel it mid-read: a Redis client can swallow a
            # cancellation and keep shutdown waiting. Cancel only if it does not stop in time.
            self._stopping.set()
            try:
                await asyncio.wait_for(asyncio.shield(self._poller), timeout=5)
            except TimeoutError:
                self._poller.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._poller
            self._poller = None

        await http_client.close_client()
        for writer in self.writers:
            await asyncio.to_thread(writer.stop)
        if redis_clients.enabled():
            await redis_clients.close_async_client()

    async def _poll_config_version(self) -> None:
        """Adopt config changes made by other processes (admin, API, manage.py, other hosts)."""
        interval = settings.PROMPTGATE_CONFIG_POLL_SECONDS
        stopping = self._stopping
        assert stopping is not None
        while not stopping.is_set():
            try:
                seen = versioning.local_version.changes
                shared = await asyncio.wait_for(_read_shared_async(), timeout=3)
                versioning.local_version.observe(shared, unless_changed_since=seen)
            except Exception:  # keep polling through a database or Redis outage
                logger.warning("config version poll failed", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=interval)


async def _read_shared_async() -> int:
    if redis_clients.enabled():
        raw = await redis_clients.lean_client().execute("GET", redis_clients.key(versioning.VERSION_KEY))
        return int(raw or 0)
    return await sync_to_async(_read_shared_closing, thread_sensitive=False)()


def _read_shared_closing() -> int:
    try:
        return versioning.read_shared()
    finally:
        connections.close_all()
