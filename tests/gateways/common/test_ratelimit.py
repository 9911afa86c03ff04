"""Shared rate limits: GCRA in process and in Redis, several windows at once, headers, failure modes."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import textwrap
import time
import uuid

import pytest
from django.conf import settings as django_settings

from gateways.common import ratelimit
from gateways.common.ratelimit import (
    Decision,
    Limit,
    MemoryBackend,
    RateLimiter,
    RateLimiterUnavailable,
    RedisBackend,
    policy_headers,
)

needs_redis = pytest.mark.skipif(not django_settings.REDIS_URL, reason="REDIS_URL not set")
BACKENDS = ["memory", pytest.param("redis", marks=needs_redis)]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=BACKENDS)
def limiter(request) -> RateLimiter:
    return RateLimiter(MemoryBackend() if request.param == "memory" else RedisBackend())


def key() -> str:
    return f"test:{uuid.uuid4().hex}"


async def test_limit_then_refuse(limiter):
    k = key()
    decisions = [await limiter.hit(k, 5, 60) for _ in range(6)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0, 0]
    refused = decisions[-1]
    assert refused.retry_after == pytest.approx(12, abs=0.5)  # one unit back every 60/5 s
    assert refused.reset_after == pytest.approx(60, abs=0.5)
    assert decisions[0].retry_after == 0 and decisions[0].policy == "minute"


async def test_cost_above_one(limiter):
    k = key()
    assert (await limiter.hit(k, 10, 60, cost=4)).remaining == 6
    assert (await limiter.hit(k, 10, 60, cost=4)).remaining == 2
    refused = await limiter.hit(k, 10, 60, cost=4)
    assert not refused.allowed and refused.remaining == 2
    assert (await limiter.hit(k, 10, 60, cost=2)).allowed
    assert not (await limiter.hit(k, 10, 60, cost=11)).allowed  # more than the whole window


async def test_window_boundary_in_memory():
    clock = FakeClock()
    limiter = RateLimiter(MemoryBackend(clock=clock))
    k = key()
    assert all([(await limiter.hit(k, 3, 60)).allowed for _ in range(3)])
    assert not (await limiter.hit(k, 3, 60)).allowed
    clock.now += 19.9
    assert not (await limiter.hit(k, 3, 60)).allowed
    clock.now += 0.1  # one emission interval (60/3 s) after the burst: exactly one more
    assert (await limiter.hit(k, 3, 60)).allowed
    assert not (await limiter.hit(k, 3, 60)).allowed
    clock.now += 60  # a whole window later the full burst is back, not more
    assert [(await limiter.hit(k, 3, 60)).allowed for _ in range(4)] == [True, True, True, False]


@needs_redis
async def test_window_boundary_in_redis():
    limiter = RateLimiter(RedisBackend())
    k = key()
    assert [(await limiter.hit(k, 2, 1)).allowed for _ in range(3)] == [True, True, False]
    await asyncio.sleep(0.6)  # interval is 0.5 s: one unit back
    assert [(await limiter.hit(k, 2, 1)).allowed for _ in range(2)] == [True, False]
    await asyncio.sleep(1.1)
    assert [(await limiter.hit(k, 2, 1)).allowed for _ in range(3)] == [True, True, False]


async def test_hundred_concurrent_hits_admit_exactly_limit(limiter):
    k = key()
    decisions = await asyncio.gather(*(limiter.hit(k, 17, 3600) for _ in range(100)))
    assert sum(d.allowed for d in decisions) == 17


async def test_refused_request_consumes_no_window(limiter):
    token_key, minute_key, hour_key = key(), key(), key()
    limits = [Limit(minute_key, 100, 60), Limit(hour_key, 3, 3600), Limit(token_key, 50, 60, name="token")]
    for _ in range(3):
        assert all(d.allowed for d in await limiter.hit_many(limits))
    refused = await limiter.hit_many(limits)
    assert [d.allowed for d in refused] == [False, False, False]
    assert [d.remaining for d in refused] == [97, 0, 47]  # the minute and token windows kept their units
    assert refused[1].retry_after == pytest.approx(1200, abs=1)
    assert (await limiter.hit(minute_key, 100, 60)).remaining == 96


async def test_memory_backend_bounded():
    backend = MemoryBackend(max_keys=100)
    limiter = RateLimiter(backend)
    for i in range(1000):
        await limiter.hit(f"k{i}", 10, 60)
    assert len(backend._tats) <= 100


async def test_memory_backend_evicts_expired_keys():
    clock = FakeClock()
    backend = MemoryBackend(clock=clock)
    limiter = RateLimiter(backend)
    for i in range(50):
        await limiter.hit(f"old{i}", 10, 1)
    clock.now += 5
    await limiter.hit("fresh", 10, 60)
    assert list(backend._tats) == ["fresh"]


async def test_invalid_arguments():
    limiter = RateLimiter(MemoryBackend())
    with pytest.raises(ValueError):
        await limiter.hit("k", 0, 60)
    with pytest.raises(ValueError):
        await limiter.hit("k", 5, 60, cost=0)


def test_policy_headers():
    allowed = [
        Decision(True, 60, 12, 29.2, 0.0, 60, "minute"),
        Decision(True, 1000, 900, 400.0, 0.0, 3600, "hour"),
    ]
    assert policy_headers(allowed) == {
        "RateLimit-Policy": '"minute";q=60;w=60, "hour";q=1000;w=3600',
        "RateLimit": '"minute";r=12;t=30, "hour";r=900;t=400',
    }
    refused = [
        Decision(False, 60, 0, 60.0, 0.4, 60, "minute"),
        Decision(False, 10, 3, 5.0, 0.0, 3600, "hour"),
    ]
    headers = policy_headers(refused)
    assert headers["Retry-After"] == "1"
    assert headers["RateLimit"] == '"minute";r=0;t=60, "hour";r=3;t=5'
    assert policy_headers([]) == {}


async def test_default_limiter_follows_settings(settings):
    settings.REDIS_URL = ""
    assert isinstance(ratelimit.limiter._backend(), MemoryBackend)
    assert ratelimit.health() == ("ok", "in-process rate limits")


async def test_redis_down_fails_closed(settings, caplog):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.PROMPTGATE_RATE_LIMIT_FAILURE_MODE = "closed"
    limiter = RateLimiter()
    with caplog.at_level(logging.ERROR, logger="gateways.common.ratelimit"):
        for _ in range(50):
            with pytest.raises(RateLimiterUnavailable) as info:
                await limiter.hit(key(), 10, 60)
    assert (info.value.status, info.value.code) == (503, "rate_limiter_unavailable")
    assert info.value.headers["Retry-After"] == "1"
    assert len(caplog.records) == 1  # one line per outage window, not one per request
    status, detail = ratelimit.health()
    assert status == "degraded" and "fail closed" in detail


async def test_redis_down_fails_open(settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.PROMPTGATE_RATE_LIMIT_FAILURE_MODE = "open"
    decisions = await RateLimiter().hit_many([Limit(key(), 10, 60), Limit(key(), 100, 3600)])
    assert all(d.allowed for d in decisions)
    assert ratelimit.health()[0] == "degraded"


async def test_breaker_retries_after_cooldown(settings, monkeypatch):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.PROMPTGATE_RATE_LIMIT_FAILURE_MODE = "open"
    attempts = []
    real = RedisBackend.hit_many

    async def counting(self, limits, cost):
        attempts.append(1)
        return await real(self, limits, cost)

    monkeypatch.setattr(RedisBackend, "hit_many", counting)
    limiter = RateLimiter()
    for _ in range(20):
        await limiter.hit(key(), 10, 60)
    assert len(attempts) == 1  # the breaker spares the dead Redis
    ratelimit._health.retry_at = 0.0
    await limiter.hit(key(), 10, 60)
    assert len(attempts) == 2


@needs_redis
async def test_redis_recovery_restores_health(settings):
    limiter = RateLimiter()
    ratelimit._health.failed(ConnectionError("simulated"))
    ratelimit._health.retry_at = 0.0
    assert ratelimit.health()[0] == "degraded"
    assert (await limiter.hit(key(), 5, 60)).allowed
    assert ratelimit.health() == ("ok", "redis rate limits")


@needs_redis
async def test_redis_keys_are_namespaced_and_expire():
    from gateways.common import redis_clients

    k = key()
    await RateLimiter(RedisBackend()).hit(k, 10, 60)
    ttl = await redis_clients.async_client().pttl(redis_clients.key("rl", k))
    assert 0 < ttl <= 6000  # one emission interval (60/10 s) of state, then gone


WORKER = textwrap.dedent(
    """
    import asyncio, sys, time
    from gateways.common.ratelimit import limiter

    async def main(key, attempts, start_at):
        await asyncio.sleep(max(0.0, start_at - time.time()))
        allowed = 0
        for _ in range(attempts):
            allowed += (await limiter.hit(key, 60, 3600)).allowed
        print(allowed)

    asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
    """
)


@needs_redis
def test_two_processes_share_one_limit():
    k = key()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "promptgate.settings",
        "PROMPTGATE_REDIS_PREFIX": django_settings.PROMPTGATE_REDIS_PREFIX,
    }
    start_at = str(time.time() + 2.0)  # both processes fire together, after their imports
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, k, "50", start_at],
            env=env,
            cwd=django_settings.BASE_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [proc.communicate(timeout=60) for proc in procs]
    for proc, (_, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
    allowed = [int(out.strip()) for out, _ in results]
    # Neither process alone can reach 60 with 50 attempts: together they stop at exactly 60.
    assert sum(allowed) == 60
    assert all(0 < n <= 50 for n in allowed)
