"""Shared rate limits: GCRA in one Redis Lua script (or in process), IETF RateLimit headers, failure modes."""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import redis.exceptions
from django.conf import settings

from gateways.common import process_state, redis_clients
from gateways.common.transport.resp import Script
from promptgate.errors import ErrorCode, PromptGateError

logger = logging.getLogger(__name__)

US = 1_000_000
# Float tolerance: `limit` hits at one instant must all fit, even when window/limit is inexact.
EPSILON_US = 0.5
WINDOW_NAMES = {1: "second", 60: "minute", 3600: "hour", 86400: "day"}


@dataclass(frozen=True, slots=True)
class Limit:
    """One limit to enforce: `limit` units per `window_seconds` on `key`, named `name` in headers."""

    key: str
    limit: int
    window_seconds: int
    name: str = ""

    @property
    def policy(self) -> str:
        return self.name or WINDOW_NAMES.get(self.window_seconds, f"{self.window_seconds}s")


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_after: float  # seconds until the window is whole again
    retry_after: float  # seconds until this request would pass (0 when allowed)
    window_seconds: int = 0
    policy: str = ""


class RateLimiterUnavailable(PromptGateError):
    status = 503
    code = ErrorCode.RATE_LIMITER_UNAVAILABLE


# GCRA over every key at once: nothing is written unless every limit admits the request, so a refusal
# by the hourly window does not eat into the minute window. Redis TIME keeps all hosts on one clock.
# `gcra(first, n, a)`: keys KEYS[first .. first+n-1]; cost ARGV[a], eps ARGV[a+1], then per key its
# (interval, window) in µs. Returns {allowed, (ok, retry_us) per key, used_us per key}. Shared, as Lua
# text, with the AI admission script (gateways/ai/budgets.py), which runs it before its budgets.
LUA_GCRA_FUNCTION = """
local function gcra(first, n, a)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local cost = tonumber(ARGV[a])
  local eps = tonumber(ARGV[a + 1])
  local out = {1}
  local olds = {}
  local news = {}
  for i = 1, n do
    local interval = tonumber(ARGV[a + 2 * i])
    local window = tonumber(ARGV[a + 1 + 2 * i])
    local tat = tonumber(redis.call('GET', KEYS[first + i - 1]) or '0')
    if tat < now then tat = now end
    local new_tat = tat + cost * interval
    local allow_at = new_tat - window
    olds[i] = tat
    news[i] = new_tat
    if allow_at > now + eps then
      out[1] = 0
      out[#out + 1] = 0
      out[#out + 1] = math.ceil(allow_at - now)
    else
      out[#out + 1] = 1
      out[#out + 1] = 0
    end
  end
  for i = 1, n do
    if out[1] == 1 then
      out[#out + 1] = math.ceil(news[i] - now)
      local ttl_ms = math.max(1, math.ceil((news[i] - now) / 1000))
      redis.call('SET', KEYS[first + i - 1], string.format('%.3f', news[i]), 'PX', ttl_ms)
    else
      out[#out + 1] = math.ceil(olds[i] - now)
    end
  end
  return out
end
"""
LUA_GCRA = LUA_GCRA_FUNCTION + "return gcra(1, #KEYS, 1)\n"
GCRA_SCRIPT = Script(LUA_GCRA)


def _decision(lim: Limit, ok: bool, retry_us: float, used_us: float) -> Decision:
    interval = lim.window_seconds * US / lim.limit
    # `used_us` is how far the theoretical arrival time runs ahead of now: what is already spent.
    remaining = max(
        0, min(lim.limit, math.floor((lim.window_seconds * US - used_us + EPSILON_US) / interval))
    )
    return Decision(
        allowed=ok,
        limit=lim.limit,
        remaining=remaining,
        reset_after=max(0.0, used_us / US),
        retry_after=max(0.0, retry_us / US),
        window_seconds=lim.window_seconds,
        policy=lim.policy,
    )


class MemoryBackend:
    """The same GCRA in process memory: one lock, no awaits, and a bounded number of keys."""

    def __init__(self, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_keys = max_keys
        self.clock = clock
        self._tats: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()  # sync views in worker threads may share the process state

    async def hit_many(self, limits: Sequence[Limit], cost: int) -> list[Decision]:
        with self._lock:
            now = self.clock() * US
            verdicts: list[tuple[bool, float, float, float]] = []
            for lim in limits:
                tat = max(self._tats.get(lim.key, 0.0), now)
                new_tat = tat + cost * lim.window_seconds * US / lim.limit
                allow_at = new_tat - lim.window_seconds * US
                ok = allow_at <= now + EPSILON_US
                verdicts.append((ok, tat, new_tat, 0.0 if ok else allow_at - now))
            allowed = all(v[0] for v in verdicts)
            if allowed:
                for lim, (_, _, new_tat, _) in zip(limits, verdicts, strict=True):
                    self._tats[lim.key] = new_tat
                    self._tats.move_to_end(lim.key)
                self._evict(now)
            return [
                _decision(lim, allowed, retry, (new_tat if allowed else tat) - now)
                for lim, (_, tat, new_tat, retry) in zip(limits, verdicts, strict=True)
            ]

    def _evict(self, now: float) -> None:
        # Oldest-touched first: an expired TAT is the same as no entry, so dropping it loses nothing;
        # past max_keys the least recently used key goes even if live (a bounded, documented loosening).
        while self._tats:
            key, tat = next(iter(self._tats.items()))
            if tat > now and len(self._tats) <= self.max_keys:
                break
            del self._tats[key]

    def clear(self) -> None:
        with self._lock:
            self._tats.clear()


class RedisBackend:
    """GCRA in one atomic Lua script on the loop's shared async Redis client."""

    async def hit_many(self, limits: Sequence[Limit], cost: int) -> list[Decision]:
        keys = [redis_clients.key("rl", lim.key) for lim in limits]
        args: list[float] = [cost, EPSILON_US]
        for lim in limits:
            args += [lim.window_seconds * US / lim.limit, lim.window_seconds * US]
        raw = await redis_clients.lean_client().run(GCRA_SCRIPT, keys, args)
        allowed = bool(int(raw[0]))
        n = len(limits)
        decisions = []
        for i, lim in enumerate(limits):
            ok, retry = int(raw[1 + 2 * i]), int(raw[2 + 2 * i])
            decisions.append(_decision(lim, allowed and bool(ok), retry, int(raw[1 + 2 * n + i])))
        return decisions


class _Health:
    """What /readyz reports, and the breaker that spares a down Redis a connect storm."""

    COOLDOWN = 1.0  # seconds between reconnect attempts while Redis is down
    LOG_EVERY = 30.0  # seconds between log lines about the same outage

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.down_since: float | None = None
        self.retry_at = 0.0
        self.failures = 0
        self.last_log = 0.0
        self.last_error = ""

    def failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        self.failures += 1
        self.last_error = type(exc).__name__
        self.retry_at = now + self.COOLDOWN
        if self.down_since is None:
            self.down_since = now
        if now - self.last_log >= self.LOG_EVERY or self.failures == 1:
            logger.error(
                "rate limiter: Redis unavailable (%s), failing %s; %d failures so far",
                self.last_error,
                failure_mode(),
                self.failures,
            )
            self.last_log = now

    def clear(self) -> None:
        self.reset()

    def recovered(self) -> None:
        if self.down_since is not None:
            logger.warning(
                "rate limiter: Redis back after %.1fs (%d failures)",
                time.monotonic() - self.down_since,
                self.failures,
            )
        self.reset()


_health = process_state.keep("ratelimit.redis_health", _Health())
_memory = process_state.keep("ratelimit.memory_counters", MemoryBackend())
_redis = RedisBackend()
_REDIS_DOWN = (redis.exceptions.RedisError, OSError, asyncio.TimeoutError)


def failure_mode() -> str:
    return settings.PROMPTGATE_RATE_LIMIT_FAILURE_MODE


def health() -> tuple[str, str]:
    """("ok" | "degraded", detail) for /readyz, from what the limiter last saw (no I/O)."""
    if not redis_clients.enabled():
        return "ok", "in-process rate limits"
    if _health.down_since is None:
        return "ok", "redis rate limits"
    down_for = time.monotonic() - _health.down_since
    return "degraded", (
        f"redis unavailable for {down_for:.0f}s ({_health.last_error}); rate limits fail {failure_mode()}"
    )


class RateLimiter:
    """Checks one or several limits per request; Redis when REDIS_URL is set, else this process."""

    def __init__(self, backend: MemoryBackend | RedisBackend | None = None) -> None:
        self.backend = backend

    def _backend(self) -> MemoryBackend | RedisBackend:
        if self.backend is not None:
            return self.backend
        return _redis if redis_clients.enabled() else _memory

    async def hit(
        self, key: str, limit: int, window_seconds: int, cost: int = 1, *, name: str = ""
    ) -> Decision:
        return (await self.hit_many([Limit(key, limit, window_seconds, name)], cost))[0]

    async def hit_many(self, limits: Sequence[Limit], cost: int = 1) -> list[Decision]:
        """All limits pass together or none is consumed; raises RateLimiterUnavailable (fail closed)."""
        if cost < 1:
            raise ValueError("cost must be at least 1")
        if any(lim.limit < 1 or lim.window_seconds < 1 for lim in limits):
            raise ValueError("limit and window_seconds must be at least 1")
        if not limits:
            return []
        backend = self._backend()
        if not isinstance(backend, RedisBackend):
            return await backend.hit_many(limits, cost)
        if _health.down_since is not None and time.monotonic() < _health.retry_at:
            return self._unavailable(limits, None)
        try:
            decisions = await backend.hit_many(limits, cost)
        except _REDIS_DOWN as exc:
            _health.failed(exc)
            return self._unavailable(limits, exc)
        if _health.down_since is not None:
            _health.recovered()
        return decisions

    def _unavailable(self, limits: Sequence[Limit], exc: BaseException | None) -> list[Decision]:
        if failure_mode() == "open":
            return [
                Decision(True, lim.limit, lim.limit, 0.0, 0.0, lim.window_seconds, lim.policy)
                for lim in limits
            ]
        raise RateLimiterUnavailable(
            "rate limiter is unavailable", headers={"Retry-After": str(math.ceil(_Health.COOLDOWN))}
        ) from exc


limiter = RateLimiter()

T = TypeVar("T")


async def shared_call(call: Callable[[], Awaitable[T]]) -> T | None:
    """One Redis call for shared accounting (token caps), under the limiter's breaker and failure mode.

    Its result; while Redis is away, None in `open` mode (the caller counts in this process) and
    503 `rate_limiter_unavailable` in `closed` mode. Never a 500, and the next call after the
    cooldown reconnects by itself.
    """
    if _health.down_since is not None and time.monotonic() < _health.retry_at:
        _unavailable_unless_open(None)
        return None
    try:
        result = await call()
    except _REDIS_DOWN as exc:
        _health.failed(exc)
        _unavailable_unless_open(exc)
        return None
    if _health.down_since is not None:
        _health.recovered()
    return result


def _unavailable_unless_open(exc: BaseException | None) -> None:
    """Raise 503 `rate_limiter_unavailable` in `closed` mode; in `open` mode return (serve)."""
    if failure_mode() == "open":
        return
    raise RateLimiterUnavailable(
        "rate limiter is unavailable", headers={"Retry-After": str(math.ceil(_Health.COOLDOWN))}
    ) from exc


def policy_headers(decisions: Iterable[Decision]) -> dict[str, str]:
    """RateLimit-Policy and RateLimit (draft-ietf-httpapi-ratelimit-headers), Retry-After on refusal."""
    decisions = list(decisions)
    if not decisions:
        return {}
    headers = {
        "RateLimit-Policy": ", ".join(f'"{d.policy}";q={d.limit};w={d.window_seconds}' for d in decisions),
        "RateLimit": ", ".join(
            f'"{d.policy}";r={d.remaining};t={math.ceil(d.reset_after)}' for d in decisions
        ),
    }
    refused = [d for d in decisions if not d.allowed]
    if refused:
        headers["Retry-After"] = str(max(1, math.ceil(max(d.retry_after for d in refused))))
    return headers


async def enforce(limits: Sequence[Limit], cost: int = 1) -> dict[str, str]:
    """Hit every limit at once; 429 `rate_limited` (with Retry-After) when one refuses.

    Returns the RateLimit headers to put on the response when the request may go on.
    """
    if not limits:
        return {}
    decisions = await limiter.hit_many(limits, cost)
    headers = policy_headers(decisions)
    if not all(d.allowed for d in decisions):
        raise PromptGateError("Rate limit exceeded", code=ErrorCode.RATE_LIMITED, status=429, headers=headers)
    return headers
