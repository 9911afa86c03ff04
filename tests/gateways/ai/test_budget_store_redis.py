"""Budgets on Redis: one round trip to admit (rates and reservation), settlements batched off the path."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.exceptions
from django.conf import settings as django_settings

from gateways.ai import budgets
from gateways.ai.budget_store import Counter, RedisSettler
from gateways.common import ratelimit, redis_clients
from gateways.common.runtime import Runtime
from gateways.common.transport.resp import PipelinedRedis
from promptgate.errors import PromptGateError

pytestmark = pytest.mark.skipif(not django_settings.REDIS_URL, reason="REDIS_URL not set")
HOUR = 3600


@pytest.fixture(autouse=True)
async def _clean_redis_state() -> AsyncIterator[None]:
    Runtime.reset_process_state()
    yield
    await redis_clients.close_async_client()
    Runtime.reset_process_state()


def counter(cap: int, kind: str = "budget") -> Counter:
    return Counter(f"ai:test:{uuid.uuid4().hex}", cap, int(time.time()) + HOUR, kind, "project", "daily")


def stored(c: Counter) -> int:
    return int(redis_clients.sync_client().get(redis_clients.key(c.key)) or 0)


@pytest.fixture
def round_trips(monkeypatch) -> list[tuple]:
    """Every command the event loop's lean client sends."""
    sent: list[tuple] = []
    real = PipelinedRedis.execute

    async def counting(self, *args):
        sent.append(args)
        return await real(self, *args)

    monkeypatch.setattr(PipelinedRedis, "execute", counting)
    return sent


async def test_admission_is_one_round_trip_and_settling_none(round_trips):
    rates = [ratelimit.Limit(f"test:{uuid.uuid4().hex}", 10, 60, "project-requests")]
    a, b = counter(1000), counter(100, "tpm")
    headers, refused, counted = await budgets._redis_admit(rates, [a, b], [300, 40])
    assert (refused, counted) == (None, True)
    assert headers["RateLimit"] == '"project-requests";r=9;t=6'
    assert len(round_trips) == 1 and round_trips[0][0] == "EVALSHA"  # NOSCRIPT would add an EVAL
    assert (stored(a), stored(b)) == (300, 40)
    settler = RedisSettler(interval=HOUR, name="test-settle")
    reservation = budgets.Reservation([a, b], [300, 40], headers)
    settler.settle(reservation.counters, [-200, -10])
    assert len(round_trips) == 1  # settling is not on the loop
    assert settler.writer.wait_idle(5)
    assert (stored(a), stored(b)) == (100, 30)
    settler.writer.stop()


async def test_refusal_leaves_counters_unchanged():
    roomy, full = counter(1000), counter(10)
    assert (await budgets._redis_admit([], [full], [10]))[1] is None
    assert (await budgets._redis_admit([], [roomy, full], [5, 5]))[1] == 1
    assert (stored(roomy), stored(full)) == (0, 10)


async def test_rate_refusal_touches_no_counter_and_budget_refusal_still_spends_the_rate():
    rate = [ratelimit.Limit(f"test:{uuid.uuid4().hex}", 2, 60, "project-requests")]
    full, roomy = counter(0), counter(1000)
    # As when they were two calls: the rate admits (and counts) first, then the budget refuses.
    _, refused, _ = await budgets._redis_admit(rate, [full], [1])
    assert refused == 0
    await budgets._redis_admit(rate, [roomy], [7])
    with pytest.raises(PromptGateError) as caught:
        await budgets._redis_admit(rate, [roomy], [7])
    assert (caught.value.status, caught.value.code) == (429, "rate_limited")
    assert 1 <= int(caught.value.headers["Retry-After"]) <= 60
    assert stored(roomy) == 7


async def test_rate_headers_match_the_shared_limiter():
    """The folded GCRA answers what ratelimit.enforce answers, hit for hit, refusal included."""

    async def folded(limits):
        return (await budgets._redis_admit(limits, [], []))[0]

    def limits() -> list[ratelimit.Limit]:
        tag = uuid.uuid4().hex
        return [ratelimit.Limit(f"test:{tag}:m", 3, 60, "minute"), ratelimit.Limit(f"test:{tag}:h", 5, 3600)]

    ours, theirs = limits(), limits()
    for _ in range(3):
        mine, shared = await folded(ours), await ratelimit.enforce(theirs)
        assert mine["RateLimit-Policy"] == shared["RateLimit-Policy"]
        assert _remaining(mine) == _remaining(shared)
    with pytest.raises(PromptGateError) as mine_refused:
        await folded(ours)
    with pytest.raises(PromptGateError) as shared_refused:
        await ratelimit.enforce(theirs)
    for exc in (mine_refused.value, shared_refused.value):
        assert (exc.status, exc.code, exc.message) == (429, "rate_limited", "Rate limit exceeded")
    mine, shared = mine_refused.value.headers, shared_refused.value.headers
    assert _remaining(mine) == _remaining(shared)
    assert abs(int(mine["Retry-After"]) - int(shared["Retry-After"])) <= 1


def _remaining(headers: dict[str, str]) -> list[str]:
    return [part.split(";t=")[0] for part in headers["RateLimit"].split(", ")]


async def test_many_settlements_one_send():
    a, b = counter(10**9), counter(10**9, "tpm")
    await budgets._redis_admit([], [a, b], [100_000, 1_000])
    settler = RedisSettler(interval=HOUR, name="test-settle")
    for _ in range(200):
        settler.settle([a, b], [-300, -4])
    settler.settle([a, b], [0, 0])  # nothing to send for zero deltas
    assert settler.writer.wait_idle(5)
    assert settler.sends == 1
    assert (stored(a), stored(b)) == (40_000, 200)
    ttl = redis_clients.sync_client().ttl(redis_clients.key(a.key))
    assert 0 < ttl <= HOUR  # the window's expiry is kept
    settler.writer.stop()


async def test_shutdown_sends_what_is_pending():
    c = counter(10**9)
    await budgets._redis_admit([], [c], [500])
    settler = RedisSettler(interval=HOUR, name="test-settle")
    settler.settle([c], [-123])
    assert stored(c) == 500
    settler.writer.stop()
    assert stored(c) == 377 and settler.sends == 1


async def test_a_failed_send_is_carried_to_the_next():
    c = counter(10**9)
    real = redis_clients.sync_client()
    clients = iter([None])

    def flaky():
        if next(clients, real) is None:
            raise redis.exceptions.ConnectionError("down for a moment")
        return real

    settler = RedisSettler(interval=HOUR, client=flaky, name="test-settle")
    settler.settle([c], [10])
    assert settler.writer.wait_idle(5)
    assert settler.failed_sends == 1 and stored(c) == 0
    settler.settle([c], [5])
    assert settler.writer.wait_idle(5)
    assert settler.sends == 1 and stored(c) == 15
    settler.writer.stop()


async def test_store_down_fails_closed_or_open(settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.PROMPTGATE_RATE_LIMIT_FAILURE_MODE = "closed"
    c = counter(10)
    with pytest.raises(PromptGateError) as caught:
        await budgets._redis_admit([], [c], [1])
    assert (caught.value.status, caught.value.code) == (503, "rate_limiter_unavailable")
    assert caught.value.headers["Retry-After"] == "1"
    settings.PROMPTGATE_RATE_LIMIT_FAILURE_MODE = "open"
    rate = [ratelimit.Limit(f"test:{uuid.uuid4().hex}", 10, 60, "project-requests")]
    headers, refused, counted = await budgets._redis_admit(rate, [c], [1])
    assert (refused, counted) == (None, False)  # admitted uncounted: settle will add the whole actual
    assert headers["RateLimit"] == '"project-requests";r=10;t=0'
