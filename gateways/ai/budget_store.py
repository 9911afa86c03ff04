"""Where AI budget and token-rate counters live: process memory (persisted write-behind) or Redis settles.

Neither store writes to the database or waits for Redis on the request path, except the first time a
process touches a budget window (one read, shared by every concurrent first touch). See budgets.py for
the admission itself.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import redis
import redis.exceptions
from django.conf import settings
from django.db import connection, transaction

from gateways.ai.models import BudgetCounter
from gateways.common import db, process_state, redis_clients
from gateways.common.db import release_connections
from gateways.common.writer import BatchedWriter
from webhooks import budget_alerts
from webhooks import emit as webhook_events

if TYPE_CHECKING:
    from gateways.common.runtime import Runtime

logger = logging.getLogger(__name__)

Row = tuple[str, int, int]  # key, absolute value, expires_at (epoch seconds)
Settle = tuple[str, int, int]  # key, delta, expires_at
Loader = Callable[[list[str]], dict[str, int]]
Persister = Callable[[list[Row], bool], None]

SETTLE_FLUSH_SECONDS = 0.1
PRUNE_EVERY = 600.0  # seconds between sweeps of expired BudgetCounter rows
SWEEP_EVERY = 60.0  # seconds between sweeps of expired counters held in memory
LOG_EVERY = 30.0  # seconds between log lines about the same Redis outage


@dataclass(frozen=True, slots=True)
class Counter:
    key: str
    cap: int
    expires_at: int  # epoch seconds
    kind: str  # "budget" | "tpm"
    scope: str  # "project" | "token" | "endpoint"
    period: str  # "daily" | "monthly" | "minute"

    @property
    def persisted(self) -> bool:
        # A token-per-minute window outlives no restart worth protecting; a read per subject and
        # minute on the request path would cost more than it saves.
        return self.kind == "budget"


class CountersUnavailable(Exception):
    """The database could not give a budget counter's starting value; the caller applies the failure mode."""


class LocalStore:
    """Counters of this one process (no Redis: the only process), kept in memory.

    Reserve and settle touch only memory, under a lock never held across an await, so a check and its
    additions are atomic for the event loop (and for any worker thread). A budget counter starts from
    its BudgetCounter row the first time the process touches its key; the writer thread upserts the
    absolute values of changed keys every few seconds and on shutdown, so a restart keeps the day's and
    month's spend (a crash loses at most one interval of it).
    """

    def __init__(
        self,
        *,
        load: Loader | None = None,
        persist: Persister | None = None,
        clock: Callable[[], float] = time.time,
        interval: float | None = None,
        name: str = "ai-budget-counters",
    ) -> None:
        self._load = load or load_counters
        self._persist = persist or persist_counters
        self.clock = clock
        self._values: dict[str, list[int]] = {}  # key -> [value, expires_at]
        self._dirty: set[str] = set()  # changed since their last write; each queued once
        self._loading: dict[str, asyncio.Future[None]] = {}  # first touches in flight
        self._lock = threading.Lock()
        self._next_sweep = 0.0
        self._next_prune = 0.0
        self.loads = 0  # database reads made
        self.writer = _StoreWriter(
            self,
            name,
            max_queue=settings.PROMPTGATE_WRITER_QUEUE_SIZE,
            batch_size=settings.PROMPTGATE_WRITER_BATCH_SIZE,
            interval=settings.PROMPTGATE_WRITER_FLUSH_SECONDS if interval is None else interval,
        )

    def value(self, key: str) -> int:
        """The counter's value now (0 when unknown or its window has closed)."""
        with self._lock:
            entry = self._values.get(key)
            return entry[0] if entry is not None and entry[1] > self.clock() else 0

    async def reserve(self, counters: Sequence[Counter], amounts: Sequence[int]) -> int | None:
        """Index of the first counter at or over its cap (nothing added), or None (every amount added)."""
        while True:
            missing = [c for c in counters if c.persisted and c.key not in self._values]
            if missing:
                await self._load_missing(missing)
            now = self.clock()
            dirty: list[str] = []
            with self._lock:  # no await from here on: check and add are one step for the loop
                if any(c.persisted and c.key not in self._values for c in counters):
                    continue  # forgotten (shutdown) or swept while loading: load again
                if now >= self._next_sweep:
                    self._sweep(now)
                for i, counter in enumerate(counters):
                    entry = self._values.get(counter.key)
                    if entry is not None and entry[1] > now and entry[0] >= counter.cap:
                        return i
                for counter, amount in zip(counters, amounts, strict=True):
                    entry = self._values.get(counter.key)
                    if entry is None or entry[1] <= now:  # a new (or just closed) window starts at 0
                        entry = self._values[counter.key] = [0, counter.expires_at]
                    entry[0] += amount
                    self._mark(counter, dirty)
            self._queue(dirty)
            return None

    def settle(self, counters: Sequence[Counter], deltas: Sequence[int]) -> None:
        """Add each difference between actual and reserved (pure memory; never raises)."""
        now = self.clock()
        dirty: list[str] = []
        changed: list[tuple[Counter, int]] = []
        with self._lock:
            for counter, delta in zip(counters, deltas, strict=True):
                entry = self._values.get(counter.key)
                if not delta or entry is None or entry[1] <= now:
                    continue  # the window closed (or was never counted): nothing left to correct
                entry[0] += delta
                self._mark(counter, dirty)
                if counter.kind == "budget":
                    changed.append((counter, entry[0]))
        self._queue(dirty)
        for counter, value in changed:  # webhook alerts: a comparison, and a deque append when crossed
            budget_alerts.observe(counter, value)

    async def _load_missing(self, missing: list[Counter]) -> None:
        loop = asyncio.get_running_loop()
        mine: list[Counter] = []
        others: list[asyncio.Future[None]] = []
        for counter in missing:
            pending = self._loading.get(counter.key)
            if pending is not None and pending.get_loop() is loop:
                if pending not in others:
                    others.append(pending)
            else:
                mine.append(counter)
        if mine:
            await self._load_these(loop, mine)
        for pending in others:
            # Shielded: a waiter that goes away must not cancel the load others wait for. A loader
            # that was cancelled resolves its future without loading; the caller's loop then retries.
            await asyncio.shield(pending)

    async def _load_these(self, loop: asyncio.AbstractEventLoop, counters: list[Counter]) -> None:
        future: asyncio.Future[None] = loop.create_future()
        for counter in counters:
            self._loading[counter.key] = future
        try:
            self.loads += 1
            try:
                rows = await db.run_sync(self._load, [c.key for c in counters])
            except Exception as exc:
                failure = CountersUnavailable("could not read budget counters")
                failure.__cause__ = exc
                future.set_exception(failure)
                future.exception()  # retrieved: waiters raise it; no "never retrieved" warning
                raise failure from exc
            with self._lock:
                for counter in counters:
                    # setdefault: a load on another event loop may have won the race and counted since.
                    self._values.setdefault(counter.key, [rows.get(counter.key, 0), counter.expires_at])
        finally:
            if not future.done():
                future.set_result(None)
            for counter in counters:
                if self._loading.get(counter.key) is future:
                    del self._loading[counter.key]

    def _mark(self, counter: Counter, dirty: list[str]) -> None:
        if counter.persisted and counter.key not in self._dirty:
            self._dirty.add(counter.key)
            dirty.append(counter.key)

    def _queue(self, keys: list[str]) -> None:
        for key in keys:
            if not self.writer.submit(key):  # buffer full: the key's next change queues it again
                with self._lock:
                    self._dirty.discard(key)

    def _sweep(self, now: float) -> None:
        """Drop closed windows from memory (lock held); their rows are pruned from the database."""
        for key in [k for k, (_, expires_at) in self._values.items() if expires_at <= now]:
            del self._values[key]
            self._dirty.discard(key)
        self._next_sweep = now + SWEEP_EVERY

    def write(self, keys: Iterable[str]) -> None:
        """Upsert the current absolute values of `keys` (the writer thread, or shutdown)."""
        now = self.clock()
        with self._lock:
            rows = []
            for key in dict.fromkeys(keys):
                self._dirty.discard(key)  # before the read: a change after it queues the key again
                entry = self._values.get(key)
                if entry is not None and entry[1] > now:
                    rows.append((key, entry[0], entry[1]))
            prune = bool(rows) and now >= self._next_prune
            if prune:
                self._next_prune = now + PRUNE_EVERY
        if rows:  # pruning rides on writes: no new rows, nothing new to prune
            self._persist(rows, prune)

    def flush(self) -> None:
        """Write every changed counter now, in the calling thread."""
        with self._lock:
            keys = list(self._dirty)
        if not keys:
            return
        try:
            self.write(keys)
        finally:
            release_connections()

    def forget(self) -> None:
        """Drop what is in memory: the next touch of a key reads it again (after the shutdown flush)."""
        with self._lock:
            self._values.clear()
            self._dirty.clear()

    def clear(self) -> None:
        """Process-state reset (tests): memory only, like `forget`; the database keeps what was written."""
        self.forget()


class _StoreWriter(BatchedWriter[str]):
    """The store's write-behind thread; stopping it also writes what changed since and forgets the rest."""

    def __init__(
        self, store: LocalStore, name: str, *, max_queue: int, batch_size: int, interval: float
    ) -> None:
        super().__init__(name, store.write, max_queue=max_queue, batch_size=batch_size, interval=interval)
        self.store = store

    def stop(self, timeout: float = 10.0) -> None:
        super().stop(timeout)
        try:
            self.store.flush()  # changes made while the thread drained its last batch
        except Exception:  # logged: shutdown goes on with the other writers
            logger.exception("could not write AI budget counters at shutdown")
        self.store.forget()


def load_counters(keys: list[str]) -> dict[str, int]:
    """Values of the live BudgetCounter rows among `keys` (a worker thread)."""

    now = datetime.datetime.now(datetime.UTC)
    return dict(BudgetCounter.objects.filter(key__in=keys, expires_at__gt=now).values_list("key", "value"))


def persist_counters(rows: list[Row], prune: bool) -> None:
    """Upsert absolute values (no signals: bulk SQL) and, now and then, drop expired windows."""

    with transaction.atomic():
        if rows:
            BudgetCounter.objects.bulk_create(
                [
                    BudgetCounter(
                        key=key, value=value, expires_at=datetime.datetime.fromtimestamp(exp, datetime.UTC)
                    )
                    for key, value, exp in rows
                ],
                update_conflicts=True,
                unique_fields=["key"],
                update_fields=["value", "expires_at"],
            )
        if prune:
            # Raw SQL: a queryset delete would fire per-row signals (audit rows, config bumps).
            with connection.cursor() as cursor:
                cursor.execute(
                    f"DELETE FROM {BudgetCounter._meta.db_table} WHERE expires_at < %s",  # noqa: S608 (our table name)
                    [datetime.datetime.now(datetime.UTC)],
                )


# Add each settled difference and keep the window's expiry (a negative delta returns unused estimate).
# Returns the new values, for the budget alerts (webhooks.budget_alerts).
LUA_SETTLE = """
local values = {}
for i = 1, #KEYS do
  values[i] = redis.call('INCRBY', KEYS[i], ARGV[2 * i - 1])
  redis.call('EXPIREAT', KEYS[i], ARGV[2 * i])
end
return values
"""
SETTLE_SHA = hashlib.sha1(LUA_SETTLE.encode(), usedforsecurity=False).hexdigest()


class RedisSettler:
    """Settlements of Redis counters, summed per key in this process and sent in one script call.

    The request path only appends to the writer's buffer; its thread sends every ~100 ms and on
    shutdown, on the process's sync Redis client (so no event loop owns it). The estimate was reserved
    at admission, so a settlement that comes late only keeps a counter high (the estimate not yet
    returned) for a moment: it errs on the side of the budget. A send that fails keeps its sums for
    the next one, until their windows close.
    """

    def __init__(
        self,
        *,
        interval: float = SETTLE_FLUSH_SECONDS,
        client: Callable[[], redis.Redis] = redis_clients.sync_client,
        name: str = "ai-budget-settle",
    ) -> None:
        self._client = client
        self._carry: dict[str, list[int]] = {}  # the writer thread's only
        self._budgets: dict[str, Counter] = {}  # key -> its budget counter, for the alerts after a send
        self._last_log = 0.0
        self.sends = 0
        self.failed_sends = 0
        self.writer: BatchedWriter[Settle] = BatchedWriter(
            name, self._send, max_queue=100_000, batch_size=10_000, interval=interval
        )

    def settle(self, counters: Sequence[Counter], deltas: Sequence[int]) -> None:
        for counter, delta in zip(counters, deltas, strict=True):
            if delta:
                self.writer.submit((counter.key, delta, counter.expires_at))
                if counter.kind == "budget":
                    self._budgets[counter.key] = counter

    def _send(self, batch: list[Settle]) -> None:
        sums, self._carry = self._carry, {}
        for key, delta, expires_at in batch:
            entry = sums.get(key)
            if entry is None:
                sums[key] = [delta, expires_at]
            else:
                entry[0] += delta
        now = time.time()
        live = {key: entry for key, entry in sums.items() if entry[0] and entry[1] > now}
        if not live:
            return
        keys = [redis_clients.key(key) for key in live]
        args = [value for entry in live.values() for value in entry]
        try:
            client = self._client()
            try:
                values = client.evalsha(SETTLE_SHA, len(keys), *keys, *args)
            except redis.exceptions.NoScriptError:
                values = client.eval(LUA_SETTLE, len(keys), *keys, *args)
        except (redis.exceptions.RedisError, OSError) as exc:
            self._carry = live
            self.failed_sends += 1
            if time.monotonic() - self._last_log >= LOG_EVERY:
                self._last_log = time.monotonic()
                logger.warning("could not settle AI budgets in Redis (%s); kept for the next try", exc)
            return
        self.sends += 1
        for key, value in zip(live, values or (), strict=False):
            counter = self._budgets.get(key)
            if counter is not None:
                budget_alerts.observe(counter, int(value))
        if len(self._budgets) > 10_000:  # windows roll over: forget counters whose window closed
            self._budgets = {k: c for k, c in self._budgets.items() if c.expires_at > now}


@functools.cache
def local_store() -> LocalStore:
    """This process's in-memory store. One per process, not per Runtime: the admin playground runs a
    second Runtime in the same process, and two stores would each admit up to a cap and overwrite each
    other's persisted values."""
    return process_state.keep("ai.budget_counters", LocalStore())


@functools.cache
def redis_settler() -> RedisSettler:
    """This process's Redis settlement buffer (one per process, like the sync Redis client)."""
    return RedisSettler()


def attach(runtime: Runtime) -> None:
    """Have `runtime` drain this process's budget writer on shutdown (and report it in /metrics)."""
    writer = redis_settler().writer if redis_clients.enabled() else local_store().writer
    if writer not in runtime.extra_writers:
        runtime.extra_writers.append(writer)
        # After the budget writer, so the alerts of its last settlements are drained too.
        runtime.extra_writers.append(webhook_events.writer())


async def reserve(counters: Sequence[Counter], amounts: Sequence[int]) -> int | None:
    """Reserve on the in-memory store (without Redis); may raise CountersUnavailable."""
    return await local_store().reserve(counters, amounts)


def settle(counters: Sequence[Counter], deltas: Sequence[int]) -> None:
    """Hand the differences to this process's store: memory, or the batched Redis settles."""
    if redis_clients.enabled():
        redis_settler().settle(counters, deltas)
    else:
        local_store().settle(counters, deltas)
