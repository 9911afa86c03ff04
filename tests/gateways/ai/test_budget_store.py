"""The in-process budget store (no Redis): caps, refusals, windows, shared first loads, write-behind."""

from __future__ import annotations

import asyncio
import datetime
import threading
import time
import uuid

import pytest

from gateways.ai import budget_store
from gateways.ai.budget_store import Counter, CountersUnavailable, LocalStore
from gateways.common import db

HOUR = 3600


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class FakeDb:
    """Load and persist functions that record their calls (and can fail or wait)."""

    def __init__(self, values: dict[str, int] | None = None) -> None:
        self.values = dict(values or {})
        self.loads: list[list[str]] = []
        self.writes: list[tuple[list[tuple[str, int, int]], bool]] = []
        self.fail: Exception | None = None
        self.gate = threading.Event()
        self.gate.set()

    def load(self, keys: list[str]) -> dict[str, int]:
        self.loads.append(keys)
        self.gate.wait(10)
        if self.fail is not None:
            raise self.fail
        return {k: self.values[k] for k in keys if k in self.values}

    def persist(self, rows: list[tuple[str, int, int]], prune: bool) -> None:
        self.writes.append((rows, prune))
        for key, value, _ in rows:
            self.values[key] = value


def budget(cap: int, expires_at: int, key: str | None = None) -> Counter:
    return Counter(key or f"ai:budget:{uuid.uuid4().hex}:d", cap, expires_at, "budget", "project", "daily")


def tpm(cap: int, expires_at: int) -> Counter:
    return Counter(f"ai:tpm:{uuid.uuid4().hex}", cap, expires_at, "tpm", "token", "minute")


async def until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.01)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake() -> FakeDb:
    return FakeDb()


@pytest.fixture
def store(fake, clock):
    store = LocalStore(load=fake.load, persist=fake.persist, clock=clock, interval=HOUR, name="test-budgets")
    yield store
    store.writer.stop()


async def test_admits_below_the_cap_then_refuses(store, clock):
    c = budget(100, int(clock.now) + HOUR)
    assert await store.reserve([c], [60]) is None
    assert await store.reserve([c], [60]) is None  # 60 < 100: admitted, and may overrun by one call
    assert store.value(c.key) == 120
    assert await store.reserve([c], [1]) == 0
    assert store.value(c.key) == 120


async def test_refusal_leaves_every_counter_unchanged(store, clock):
    end = int(clock.now) + HOUR
    roomy, full, rate = budget(1000, end), budget(10, end), tpm(500, end)
    assert await store.reserve([full], [10]) is None
    assert await store.reserve([roomy, full, rate], [5, 5, 50]) == 1
    assert (store.value(roomy.key), store.value(full.key), store.value(rate.key)) == (0, 10, 0)


async def test_settle_corrects_the_reservation(store, clock):
    c = budget(100, int(clock.now) + HOUR)
    await store.reserve([c], [80])
    store.settle([c], [-50])  # used 30 of the 80 reserved
    assert store.value(c.key) == 30
    assert await store.reserve([c], [10]) is None


async def test_a_closed_window_starts_again_at_zero(store, clock):
    c = budget(100, int(clock.now) + 60)
    await store.reserve([c], [100])
    assert await store.reserve([c], [1]) == 0
    clock.now += 61
    assert store.value(c.key) == 0
    store.settle([c], [5])  # a late settlement of the closed window changes nothing
    assert store.value(c.key) == 0
    assert await store.reserve([c], [1]) is None  # a request that straddled the boundary
    nxt = budget(100, int(clock.now) + 60)
    assert await store.reserve([nxt], [1]) is None and store.value(nxt.key) == 1


async def test_closed_windows_leave_memory(store, clock):
    old = tpm(100, int(clock.now) + 60)
    await store.reserve([old], [1])
    clock.now += budget_store.SWEEP_EVERY + 61
    await store.reserve([tpm(100, int(clock.now) + 60)], [1])
    assert old.key not in store._values


async def test_budget_starts_from_the_database_value_once(store, fake, clock):
    c = budget(100, int(clock.now) + HOUR)
    fake.values[c.key] = 95
    assert await store.reserve([c], [3]) is None
    assert store.value(c.key) == 98
    assert await store.reserve([c], [3]) is None
    assert await store.reserve([c], [3]) == 0
    assert fake.loads == [[c.key]]


async def test_token_rate_counters_stay_in_memory(store, fake, clock):
    c = tpm(100, int(clock.now) + 60)
    await store.reserve([c], [10])
    store.settle([c], [5])
    store.flush()
    assert fake.loads == [] and fake.writes == []


async def test_concurrent_first_touches_share_one_load(store, fake, clock):
    c = budget(1000, int(clock.now) + HOUR)
    fake.values[c.key] = 100
    fake.gate.clear()  # hold the load until every request is waiting on it
    tasks = [asyncio.create_task(store.reserve([c], [10])) for _ in range(8)]
    await until(lambda: fake.loads)  # the seven others ran right after the first: all are waiting
    fake.gate.set()
    assert await asyncio.gather(*tasks) == [None] * 8
    assert fake.loads == [[c.key]]
    assert store.value(c.key) == 180


async def test_a_failed_load_fails_its_waiters_and_is_retried(store, fake, clock):
    c = budget(1000, int(clock.now) + HOUR)
    fake.fail = RuntimeError("database down")
    fake.gate.clear()
    tasks = [asyncio.create_task(store.reserve([c], [10])) for _ in range(3)]
    await until(lambda: fake.loads)
    fake.gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, CountersUnavailable) for r in results)
    assert len(fake.loads) == 1
    fake.fail = None
    assert await store.reserve([c], [10]) is None
    assert len(fake.loads) == 2 and store.value(c.key) == 10


async def test_a_cancelled_loader_lets_its_waiters_load(store, fake, clock):
    c = budget(1000, int(clock.now) + HOUR)
    fake.gate.clear()
    first = asyncio.create_task(store.reserve([c], [10]))
    await until(lambda: fake.loads)
    second = asyncio.create_task(store.reserve([c], [10]))
    await asyncio.sleep(0)  # one step: `second` now waits on the first's load
    first.cancel()
    fake.gate.set()
    assert await second is None
    assert first.cancelled() and len(fake.loads) == 2  # the waiter loaded for itself
    assert store.value(c.key) == 10


async def test_changed_budgets_are_written_behind_as_absolute_values(store, fake, clock):
    a, b = budget(1000, int(clock.now) + HOUR), budget(1000, int(clock.now) + HOUR)
    before = db.counter.calls
    for _ in range(5):
        await store.reserve([a, b], [10, 20])
    store.settle([a, b], [-5, 0])
    assert db.counter.calls == before + 1  # the one first-touch load; no write on the request path
    assert fake.writes == []
    assert store.writer.wait_idle(5)
    rows = sorted(row for batch, _ in fake.writes for row in batch)
    assert sorted((k, v) for k, v, _ in rows) == sorted([(a.key, 45), (b.key, 100)])
    assert len(fake.writes) == 1  # each key queued once however often it changed


async def test_stopping_the_writer_flushes_and_forgets(store, fake, clock):
    c = budget(1000, int(clock.now) + HOUR)
    await store.reserve([c], [10])
    store.writer.stop()
    assert fake.values[c.key] == 10
    await store.reserve([c], [5])  # read again from what was written
    assert store.value(c.key) == 15 and len(fake.loads) == 2


async def test_attach_registers_the_process_writer_once(settings):
    from gateways.common.runtime import Runtime

    settings.REDIS_URL = ""
    runtime = Runtime()
    budget_store.attach(runtime)
    budget_store.attach(runtime)
    assert runtime.writers.count(budget_store.local_store().writer) == 1


# The real table: a fresh store (a restarted process) carries on from what the last one wrote.


@pytest.mark.django_db(transaction=True)
async def test_persistence_round_trip(settings):
    from gateways.ai.models import BudgetCounter

    settings.REDIS_URL = ""
    end = int(time.time()) + HOUR
    c = budget(1000, end)
    first = LocalStore(interval=HOUR, name="test-first")
    await first.reserve([c], [300])
    first.settle([c], [-100])
    assert first.writer.wait_idle(5)
    row = await BudgetCounter.objects.aget(key=c.key)
    assert row.value == 200 and row.expires_at == datetime.datetime.fromtimestamp(end, datetime.UTC)
    await first.reserve([c], [700])
    first.writer.stop()  # shutdown: what changed since the last write is written too
    assert (await BudgetCounter.objects.aget(key=c.key)).value == 900
    second = LocalStore(interval=HOUR, name="test-second")
    assert await second.reserve([c], [100]) is None  # 900 < 1000
    assert await second.reserve([c], [1]) == 0  # 1000: at the cap after the restart
    second.writer.stop()
    assert (await BudgetCounter.objects.aget(key=c.key)).value == 1000


@pytest.mark.django_db(transaction=True)
async def test_writes_prune_expired_rows():
    from gateways.ai.models import BudgetCounter

    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=2)
    await BudgetCounter.objects.abulk_create([BudgetCounter(key="ai:budget:old:d", value=5, expires_at=past)])
    store = LocalStore(interval=HOUR, name="test-prune")
    c = budget(1000, int(time.time()) + HOUR)
    await store.reserve([c], [1])
    store.writer.stop()
    keys = [k async for k in BudgetCounter.objects.values_list("key", flat=True)]
    assert keys == [c.key]
