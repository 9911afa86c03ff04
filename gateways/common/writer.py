"""Bounded, batched background writers: request logs and token usage leave the request path here.

`submit` never blocks and never raises: when the buffer is full the item is dropped and counted (a
slow database must not grow memory without bound). Submitting is a `deque.append`: no lock and no
thread wake-up per item, because waking the writer for every request costs the serving thread a GIL
hand-off and a futex round trip each time (measured: ~0.5 ms of CPU per request at one connection).
The writer thread sleeps for `interval`, or until a full batch is waiting, then writes what was
buffered when it woke, in batches of `batch_size`; `stop` drains everything (the ASGI lifespan calls
it on shutdown). Items that arrive while it writes wait for the next wake: a writer that chased them
wrote a batch every few milliseconds of whatever had come meanwhile (at ~1,500 requests a second,
batches of ~6 rows, each a transaction with its rollup upsert): the request-log process took 0.36 of a
core at one connection on PostgreSQL, 0.05 once it writes what was waiting (bench/results/writer-s8.md).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

from gateways.common.db import release_connections

logger = logging.getLogger(__name__)

T = TypeVar("T")


class BatchedWriter(Generic[T]):
    def __init__(
        self,
        name: str,
        flush: Callable[[list[T]], None],
        *,
        max_queue: int = 10_000,
        batch_size: int = 500,
        interval: float = 1.0,
        on_start: Callable[[], None] | None = None,
        on_stop: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self._flush = flush
        self._on_start = on_start  # run by the writer thread before its first batch
        self._on_stop = on_stop  # run by the writer thread after its last batch
        self.max_queue = max_queue
        self.batch_size = batch_size
        self.interval = interval
        self.submitted = 0
        self.written = 0
        self.dropped = 0
        self.failed_batches = 0
        self._items: deque[T] = deque()
        self._processed = 0  # items taken off the buffer and written or given up on
        self._progress = threading.Condition()
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stopping = False
                self._thread = threading.Thread(target=self._run, name=f"writer-{self.name}", daemon=True)
                self._thread.start()

    def submit(self, item: T) -> bool:
        if self._thread is None:
            self.start()
        items = self._items
        if len(items) >= self.max_queue:
            self.dropped += 1
            return False
        items.append(item)  # deque.append is atomic under the GIL: the writer pops concurrently
        self.submitted += 1
        if len(items) >= self.batch_size and not self._wake.is_set():
            self._wake.set()
        return True

    def stop(self, timeout: float = 10.0) -> None:
        """Drain the buffer and stop the thread (shutdown)."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            return
        self._stopping = True
        self._wake.set()
        thread.join(timeout)
        if thread.is_alive():
            logger.error("writer %s: still writing after %.0f s at shutdown", self.name, timeout)
        self._thread = None

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Write what was submitted so far now, and block until it is written (tests, clean shutdown)."""
        target = self.submitted
        self._wake.set()
        with self._progress:
            return self._progress.wait_for(lambda: self._processed >= target, timeout)

    def pending(self) -> int:
        return len(self._items)

    def _run(self) -> None:
        if self._on_start is not None:
            try:
                self._on_start()
            except Exception:  # the flush will try again (and count its failures) per batch
                logger.exception("writer %s: could not start", self.name)
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            stopping = self._stopping  # read before draining: what was submitted before stop is written
            self._drain(everything=stopping)
            if stopping:
                if self._on_stop is not None:
                    try:
                        self._on_stop()
                    except Exception:
                        logger.exception("writer %s: could not stop cleanly", self.name)
                return

    def _drain(self, *, everything: bool = False) -> None:
        """Write what is buffered now (`everything`: until the buffer is empty, for stop)."""
        items = self._items
        waiting = len(items)
        while items and (everything or waiting > 0):
            size = min(len(items), self.batch_size if everything else min(waiting, self.batch_size))
            waiting -= size
            self._write([items.popleft() for _ in range(size)])

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
            with self._progress:
                self._processed += len(batch)
                self._progress.notify_all()

    def stats(self) -> dict[str, int]:
        return {
            "submitted": self.submitted,
            "written": self.written,
            "dropped": self.dropped,
            "failed_batches": self.failed_batches,
            "pending": self.pending(),
        }
