"""AI budgets and rates: USD per day/month and requests/tokens per minute, per project and per token.

Budgets and tokens per minute are counters that the call first *reserves* (an estimate) and later
*settles* (the actual): a request is admitted only while every counter is below its cap. So once a
budget runs out, only the requests already admitted (in flight) can still add to it.

With Redis, admission is one Lua script (requests-per-minute GCRA and the reservation together, atomic
across processes) and settlements leave in batches (budget_store.RedisSettler). Without Redis there is
one process, and the counters live in its memory, persisted write-behind (budget_store.LocalStore).
Either way `admit` writes nothing to the database (it reads a budget window's row once per process)
and makes at most one Redis round trip; `settle` makes none.
"""

from __future__ import annotations

import calendar
import datetime
import functools
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import orjson
import redis.exceptions

from gateways.ai import budget_store
from gateways.ai.budget_store import Counter, CountersUnavailable
from gateways.ai.errors import OpenAIError, budget_exceeded
from gateways.ai.models import UsageLimit
from gateways.common import ratelimit, redis_clients
from gateways.common.router import GatewayRequest
from gateways.common.transport.resp import Script
from promptgate.errors import ErrorCode, PromptGateError

__all__ = ["Counter", "LimitSet", "Reservation", "admit", "estimate_tokens", "load_limits"]

NANO = Decimal(1_000_000_000)
_REDIS_DOWN = (redis.exceptions.RedisError, OSError, TimeoutError)

# Requests-per-minute GCRA (ratelimit's own `gcra` function) over the first ARGV[1] keys, then, when
# it admits, the reservation over the other keys: admit while every counter is below its cap, then add
# each amount. The GCRA is spent even when a budget then refuses, as when they were two calls.
# ARGV: r, cost, eps, r x (interval, window), then per counter (cap, amount, expires_at).
# Returns {rates_allowed, refused_counter (0: none), then the GCRA verdicts as LUA_GCRA lays them out}.
LUA_ADMIT = (
    ratelimit.LUA_GCRA_FUNCTION
    + """
local r = tonumber(ARGV[1])
local out = {1, 0}
if r > 0 then
  local verdicts = gcra(1, r, 2)
  out[1] = verdicts[1]
  for i = 2, #verdicts do out[#out + 1] = verdicts[i] end
  if out[1] == 0 then return out end
end
local base = 3 + 2 * r
for i = 1, #KEYS - r do
  local v = tonumber(redis.call('GET', KEYS[r + i]) or '0')
  if v >= tonumber(ARGV[base + 3 * i - 2]) then
    out[2] = i
    return out
  end
end
for i = 1, #KEYS - r do
  redis.call('INCRBY', KEYS[r + i], ARGV[base + 3 * i - 1])
  redis.call('EXPIREAT', KEYS[r + i], ARGV[base + 3 * i])
end
return out
"""
)
ADMIT_SCRIPT = Script(LUA_ADMIT)


@dataclass(frozen=True, slots=True)
class LimitSet:
    """One UsageLimit row: budgets in nano-USD, rates per minute (None: no limit)."""

    daily_nanos: int | None
    monthly_nanos: int | None
    requests_per_minute: int | None
    tokens_per_minute: int | None


@dataclass
class Reservation:
    """What one request reserved; `settle` once with what it actually used."""

    counters: list[Counter] = field(default_factory=list)
    amounts: list[int] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    settled: bool = False

    async def settle(self, nanos: int, tokens: int) -> None:
        # In memory, or queued for the next batched Redis call: no I/O here, and nothing that can fail
        # a call that was served (and billed upstream).
        if self.settled or not self.counters:
            self.settled = True
            return
        self.settled = True
        deltas = [
            (nanos if c.kind == "budget" else tokens) - reserved
            for c, reserved in zip(self.counters, self.amounts, strict=True)
        ]
        if any(deltas):
            budget_store.settle(self.counters, deltas)


def _nanos(usd: Decimal | None) -> int | None:
    return None if usd is None else int(usd * NANO)


def load_limits(project_id: int) -> dict[int | None, LimitSet]:
    """The project's UsageLimit rows keyed by token id (None: the project's own)."""

    return {
        row.token_id: LimitSet(
            _nanos(row.daily_budget),
            _nanos(row.monthly_budget),
            row.requests_per_minute,
            row.tokens_per_minute,
        )
        for row in UsageLimit.objects.filter(project_id=project_id)
    }


@dataclass(frozen=True, slots=True)
class Periods:
    """The UTC day, month and minute a request falls in: counter labels and when each counter expires."""

    day: str  # 2026-12-02
    day_end: int  # epoch seconds
    month: str  # 2026-12
    month_end: int
    minute: int  # epoch minutes
    minute_end: int


@functools.lru_cache(maxsize=4)
def _periods_of(minute: int) -> Periods:
    # Computed once a minute, not per request: calendar and strftime cost more than the rest of admit.
    now = datetime.datetime.fromtimestamp(minute * 60, datetime.UTC)
    day_start = datetime.datetime(now.year, now.month, now.day, tzinfo=datetime.UTC)
    month_start = datetime.datetime(now.year, now.month, 1, tzinfo=datetime.UTC)
    month_days = calendar.monthrange(now.year, now.month)[1]
    return Periods(
        day=f"{now:%Y-%m-%d}",
        day_end=int(day_start.timestamp()) + 86400,
        month=f"{now:%Y-%m}",
        month_end=int(month_start.timestamp()) + month_days * 86400,
        minute=minute,
        minute_end=(minute + 1) * 60,
    )


def periods(epoch_seconds: float) -> Periods:
    return _periods_of(int(epoch_seconds) // 60)


def budget_key(subject: str, period: str, at: Periods) -> str:
    """The counter of `subject` ("p12", "t34") for the day ("daily") or month ("monthly") `at` is in."""
    return f"ai:budget:{subject}:d:{at.day}" if period == "daily" else f"ai:budget:{subject}:m:{at.month}"


def _counters(subjects: Sequence[tuple[str, str, LimitSet]], at: Periods) -> list[Counter]:
    counters = []
    for scope, subject, lim in subjects:
        if lim.daily_nanos is not None:
            key = budget_key(subject, "daily", at)
            counters.append(Counter(key, lim.daily_nanos, at.day_end, "budget", scope, "daily"))
        if lim.monthly_nanos is not None:
            key = budget_key(subject, "monthly", at)
            counters.append(Counter(key, lim.monthly_nanos, at.month_end, "budget", scope, "monthly"))
        if lim.tokens_per_minute:
            key = f"ai:tpm:{subject}:{at.minute}"
            counters.append(Counter(key, lim.tokens_per_minute, at.minute_end, "tpm", scope, "minute"))
    return sorted(counters, key=lambda c: c.key)


async def admit(
    greq: GatewayRequest,
    nanos_estimate: int,
    tokens_estimate: int,
    *,
    extra: Sequence[tuple[str, str, LimitSet]] = (),
) -> Reservation:
    """Check rates and budgets before the call; raises 429 rate_limited / budget_exceeded.

    `extra` adds a caller's own (scope, subject, limits), such as an AI endpoint's requests per minute
    and daily budget, admitted in the same single call as the project's and the token's.
    """
    budget_store.attach(greq.runtime)
    project_id = greq.project.id
    limits: Mapping[int | None, LimitSet] = await greq.runtime.config.get(
        ("ai-limits", project_id), lambda: load_limits(project_id)
    )
    subjects = [
        (scope, subject, lim)
        for scope, subject, lim in (
            ("project", f"p{project_id}", limits.get(None)),
            ("token", f"t{greq.token.id}", limits.get(greq.token.id)),
        )
        if lim is not None
    ] + list(extra)
    if not subjects:
        return Reservation()
    rates = [
        ratelimit.Limit(f"ai:rpm:{subject}", lim.requests_per_minute, 60, f"{scope}-requests")
        for scope, subject, lim in subjects
        if lim.requests_per_minute
    ]
    now = time.time()
    counters = _counters(subjects, periods(now))
    amounts = [max(0, nanos_estimate if c.kind == "budget" else tokens_estimate) for c in counters]
    if redis_clients.enabled():
        headers, refused, counted = await _redis_admit(rates, counters, amounts)
    else:
        headers = await ratelimit.enforce(rates)  # in process memory: no I/O
        refused, counted = await _local_reserve(counters, amounts)
    if refused is not None:
        counter = counters[refused]
        retry = max(1, counter.expires_at - int(now))
        if counter.kind == "budget":
            exc = budget_exceeded(counter.scope, counter.period)
            exc.headers["Retry-After"] = str(retry)
            raise exc
        raise OpenAIError(
            f"Tokens-per-minute limit of this {counter.scope} reached",
            code=ErrorCode.RATE_LIMITED,
            status=429,
            headers={**headers, "Retry-After": str(min(retry, 60))},
        )
    if not counted:  # the store was down and limits fail open: settle adds the whole actual
        amounts = [0] * len(counters)
    return Reservation(counters, amounts, headers)


async def _local_reserve(counters: list[Counter], amounts: list[int]) -> tuple[int | None, bool]:
    """(refused index or None, counted) on the in-memory store."""
    if not counters:
        return None, True
    try:
        return await budget_store.reserve(counters, amounts), True
    except CountersUnavailable as exc:
        if ratelimit.failure_mode() == "open":
            return None, False
        raise _unavailable("budget store is unavailable") from exc


async def _redis_admit(
    rates: list[ratelimit.Limit], counters: list[Counter], amounts: list[int]
) -> tuple[dict[str, str], int | None, bool]:
    """One round trip: (RateLimit headers, refused counter index or None, counted); 429 when a rate refuses.

    Shares the rate limiter's breaker and health (what /readyz reports) and its failure mode.
    """
    if not rates and not counters:
        return {}, None, True
    health = ratelimit._health
    if health.down_since is not None and time.monotonic() < health.retry_at:
        return _redis_unavailable(rates, None)
    us = ratelimit.US
    keys = [redis_clients.key("rl", lim.key) for lim in rates] + [redis_clients.key(c.key) for c in counters]
    args: list[float] = [len(rates), 1, ratelimit.EPSILON_US]
    for lim in rates:
        args += [lim.window_seconds * us / lim.limit, lim.window_seconds * us]
    for counter, amount in zip(counters, amounts, strict=True):
        args += [counter.cap, amount, counter.expires_at]
    try:
        raw = await redis_clients.lean_client().run(ADMIT_SCRIPT, keys, args)
    except _REDIS_DOWN as exc:
        health.failed(exc)
        return _redis_unavailable(rates, exc)
    if health.down_since is not None:
        health.recovered()
    allowed = bool(int(raw[0]))
    n = len(rates)
    decisions = [
        ratelimit._decision(
            lim, allowed and bool(int(raw[2 + 2 * i])), int(raw[3 + 2 * i]), int(raw[2 + 2 * n + i])
        )
        for i, lim in enumerate(rates)
    ]
    headers = ratelimit.policy_headers(decisions)
    if not allowed:
        raise PromptGateError("Rate limit exceeded", code=ErrorCode.RATE_LIMITED, status=429, headers=headers)
    refused = int(raw[1])
    return headers, (refused - 1 if refused else None), True


def _redis_unavailable(
    rates: list[ratelimit.Limit], exc: BaseException | None
) -> tuple[dict[str, str], int | None, bool]:
    if ratelimit.failure_mode() != "open":
        message = "rate limiter is unavailable" if rates else "budget store is unavailable"
        raise _unavailable(message) from exc
    decisions = [
        ratelimit.Decision(True, lim.limit, lim.limit, 0.0, 0.0, lim.window_seconds, lim.policy)
        for lim in rates
    ]
    return ratelimit.policy_headers(decisions), None, False


def _unavailable(message: str) -> PromptGateError:
    retry = str(math.ceil(ratelimit._Health.COOLDOWN))
    return ratelimit.RateLimiterUnavailable(message, headers={"Retry-After": retry})


DEFAULT_COMPLETION_ESTIMATE = 256


def estimate_tokens(body: Mapping[str, object]) -> tuple[int, int]:
    """(prompt, completion) tokens to reserve: ~4 characters a token, and max_tokens or a default."""

    prompt = len(orjson.dumps(body.get("messages") or body.get("input") or "")) // 4 + 1
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    completion = limit if isinstance(limit, int) and limit > 0 else DEFAULT_COMPLETION_ESTIMATE
    choices = body.get("n")
    return prompt, completion * (choices if isinstance(choices, int) and choices > 1 else 1)
