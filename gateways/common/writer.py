"""Bounded, batched background writers: request logs and token usage leave the request path here.

`submit` never blocks and never raises: when the queue is full the item is dropped and counted (a slow
database must not grow memory without bound). A daemon thread flushes batches every interval or as
soon as a batch fills, and `stop` drains what is queued (the ASGI lifespan calls it on shutdown).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from gateways.common.db import release_connections

logger = logging.getLogger(__name__)

T = TypeVar("T")
_STOP = object()


class BatchedWriter(Generic[T]):
    def __init__(
        self,
        name: str,
        flush: Callable[[list[T]], None],
        *,
        max_queue: int = 10_000,
        batch_size: int = 500,
        interval: float = 1.0,
    ) -> None:
        self.name = name
        self._flush = flush
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max_queue)
        self.batch_size = batch_size
        self.interval = interval
        self.submitted = 0
        self.written = 0
        self.dropped = 0
        self.failed_batches = 0
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()

    def start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=f"writer-{self.name}", daemon=True)
                self._thread.start()

    def submit(self, item: T) -> bool:
        if self._thread is None:
            self.start()
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.dropped += 1
            return False
        self.submitted += 1
        self._idle.clear()
        return True

    def stop(self, timeout: float = 10.0) -> None:
        """Drain the queue and stop the thread (shutdown)."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            return
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            logger.error("writer %s: queue full at shutdown", self.name)
            return
        thread.join(timeout)
        self._thread = None

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until everything submitted so far is written (tests, readiness of a clean shutdown)."""
        return self._idle.wait(timeout)

    def pending(self) -> int:
        return self._queue.qsize()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch: list[T] = []
            deadline = time.monotonic() + self.interval
            while len(batch) < self.batch_size:
                timeout = deadline - time.monotonic()
                try:
                    item = (
                        self._queue.get(timeout=max(timeout, 0)) if timeout > 0 else self._queue.get_nowait()
                    )
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)  # type: ignore[arg-type]
            if batch:
                self._write(batch)
            if self._queue.empty():
                self._idle.set()
        # Drain anything submitted while stopping.
        rest: list[T] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not _STOP:
                rest.append(item)  # type: ignore[arg-type]
        if rest:
            self._write(rest)
        self._idle.set()

    def _write(self, batch: list[T]) -> None:
        try:
            self._flush(batch)
            self.written += len(batch)
        except Exception:  # a failed batch is logged and counted; the writer keeps going
            self.failed_batches += 1
            self.dropped += len(batch)
            logger.exception("writer %s: failed to write a batch of %d", self.name, len(batch))
        finally:
            release_connections()

    def stats(self) -> dict[str, int]:
        return {
            "submitted": self.submitted,
            "written": self.written,
            "dropped": self.dropped,
            "failed_batches": self.failed_batches,
            "pending": self.pending(),
        }
