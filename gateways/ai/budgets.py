"""AI budgets and rates: USD per day/month and requests/tokens per minute, per project and per token.

Requests per minute go through the shared GCRA limiter. Budgets and tokens per minute are counters
that the call first *reserves* (an estimate) and later *settles* (the actual): a request is admitted
only while every counter is below its cap, atomically across processes — one Lua script in Redis, or
conditional UPDATEs in one transaction (in a worker thread) when there is no Redis. So once a budget
runs out, only the requests already admitted (in flight) can still add to it.
"""

from __future__ import annotations

import calendar
import datetime
import hashlib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import redis.exceptions

from gateways.ai.errors import OpenAIError, budget_exceeded
from gateways.common import db, ratelimit, redis_clients
from gateways.common.router import GatewayRequest
from promptgate.errors import PromptGateError

logger = logging.getLogger(__name__)
NANO = Decimal(1_000_000_000)

# Admit when every counter is below its cap, then add each amount; returns {1} or {0, index}.
LUA_RESERVE = """
local n = #KEYS
for i = 1, n do
  local v = tonumber(redis.call('GET', KEYS[i]) or '0')
  if v >= tonumber(ARGV[3 * i - 2]) then return {0, i} end
end
for i = 1, n do
  redis.call('INCRBY', KEYS[i], ARGV[3 * i - 1])
  redis.call('EXPIREAT', KEYS[i], ARGV[3 * i])
end
return {1, 0}
"""
# Settle: add each difference between actual and reserved (negative gives back the unused estimate).
LUA_SETTLE = """
for i = 1, #KEYS do
  redis.call('INCRBY', KEYS[i], ARGV[2 * i - 1])
  redis.call('EXPIREAT', KEYS[i], ARGV[2 * i])
end
return 1
"""
_SHAS = {s: hashlib.sha1(s.encode(), usedforsecurity=False).hexdigest() for s in (LUA_RESERVE, LUA_SETTLE)}


@dataclass(frozen=True, slots=True)
class LimitSet:
    """One UsageLimit row: budgets in nano-USD, rates per minute (None: no limit)."""

    daily_nanos: int | None
    monthly_nanos: int | None
    requests_per_minute: int | None
    tokens_per_minute: int | None


@dataclass(frozen=True, slots=True)
class Counter:
    key: str
    cap: int
    expires_at: int  # epoch seconds
    kind: str  # "budget" | "tpm"
    scope: str  # "project" | "token"
    period: str  # "daily" | "monthly" | "minute"


@dataclass
class Reservation:
    """What one request reserved; `settle` once with what it actually used."""

    counters: list[Counter] = field(default_factory=list)
    amounts: list[int] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    settled: bool = False

    async def settle(self, nanos: int, tokens: int) -> None:
        if self.settled or not self.counters:
            self.settled = True
            return
        self.settled = True
        deltas = [
            (nanos if c.kind == "budget" else tokens) - reserved
            for c, reserved in zip(self.counters, self.amounts, strict=True)
        ]
        try:
            await _backend_settle(self.counters, deltas)
        except PromptGateError:
            # The call was served (and billed upstream): a store outage must not turn it into an error.
            # The reservation stays counted, which errs on the side of the budget.
            logger.warning("could not settle an AI budget reservation", exc_info=True)


def _nanos(usd: Decimal | None) -> int | None:
    return None if usd is None else int(usd * NANO)


def load_limits(project_id: int) -> dict[int | None, LimitSet]:
    """The project's UsageLimit rows keyed by token id (None: the project's own)."""
    from gateways.ai.models import UsageLimit

    return {
        row.token_id: LimitSet(
            _nanos(row.daily_budget),
            _nanos(row.monthly_budget),
            row.requests_per_minute,
            row.tokens_per_minute,
        )
        for row in UsageLimit.objects.filter(project_id=project_id)
    }


def _counters(subjects: Sequence[tuple[str, str, LimitSet]], now: datetime.datetime) -> list[Counter]:
    day_end = int(datetime.datetime(now.year, now.month, now.day, tzinfo=datetime.UTC).timestamp()) + 86400
    month_days = calendar.monthrange(now.year, now.month)[1]
    month_end = int(datetime.datetime(now.year, now.month, 1, tzinfo=datetime.UTC).timestamp()) + (
        month_days * 86400
    )
    minute = int(now.timestamp()) // 60
    counters = []
    for scope, subject, lim in subjects:
        if lim.daily_nanos is not None:
            counters.append(
                Counter(
                    f"ai:budget:{subject}:d:{now:%Y-%m-%d}",
                    lim.daily_nanos,
                    day_end,
                    "budget",
                    scope,
                    "daily",
                )
            )
        if lim.monthly_nanos is not None:
            counters.append(
                Counter(
                    f"ai:budget:{subject}:m:{now:%Y-%m}",
                    lim.monthly_nanos,
                    month_end,
                    "budget",
                    scope,
                    "monthly",
                )
            )
        if lim.tokens_per_minute:
            end = (minute + 1) * 60
            counters.append(
                Counter(f"ai:tpm:{subject}:{minute}", lim.tokens_per_minute, end, "tpm", scope, "minute")
            )
    return sorted(counters, key=lambda c: c.key)  # one lock order for every process (no deadlocks)


async def admit(greq: GatewayRequest, nanos_estimate: int, tokens_estimate: int) -> Reservation:
    """Check rates and budgets before the call; raises 429 rate_limited / budget_exceeded."""
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
    ]
    if not subjects:
        return Reservation()
    rates = [
        ratelimit.Limit(f"ai:rpm:{subject}", lim.requests_per_minute, 60, f"{scope}-requests")
        for scope, subject, lim in subjects
        if lim.requests_per_minute
    ]
    headers = await ratelimit.enforce(rates)
    now = datetime.datetime.now(datetime.UTC)
    counters = _counters(subjects, now)
    amounts = [max(0, nanos_estimate if c.kind == "budget" else tokens_estimate) for c in counters]
    refused = await _backend_reserve(counters, amounts) if counters else None
    if refused is not None:
        counter = counters[refused]
        retry = max(1, counter.expires_at - int(now.timestamp()))
        if counter.kind == "budget":
            exc = budget_exceeded(counter.scope, counter.period)
            exc.headers["Retry-After"] = str(retry)
            raise exc
        raise OpenAIError(
            f"Tokens-per-minute limit of this {counter.scope} reached",
            code="rate_limited",
            status=429,
            headers={**headers, "Retry-After": str(min(retry, 60))},
        )
    return Reservation(counters, amounts, headers)


async def _backend_reserve(counters: list[Counter], amounts: list[int]) -> int | None:
    if not redis_clients.enabled():
        return await db.run_sync(_db_reserve, counters, amounts)
    args: list[int] = []
    for counter, amount in zip(counters, amounts, strict=True):
        args += [counter.cap, amount, counter.expires_at]
    raw = await _redis_eval(LUA_RESERVE, [c.key for c in counters], args)
    if raw is None:  # Redis down and limits fail open
        return None
    return None if int(raw[0]) == 1 else int(raw[1]) - 1


async def _backend_settle(counters: list[Counter], deltas: list[int]) -> None:
    if not any(deltas):
        return
    if not redis_clients.enabled():
        await db.run_sync(_db_settle, counters, deltas)
        return
    args: list[int] = []
    for counter, delta in zip(counters, deltas, strict=True):
        args += [delta, counter.expires_at]
    await _redis_eval(LUA_SETTLE, [c.key for c in counters], args)


async def _redis_eval(script: str, keys: list[str], args: list[int]) -> list[int] | None:
    client = redis_clients.async_client()
    full_keys = [redis_clients.key(k) for k in keys]
    try:
        try:
            return await client.evalsha(_SHAS[script], len(full_keys), *full_keys, *args)
        except redis.exceptions.NoScriptError:
            return await client.eval(script, len(full_keys), *full_keys, *args)
    except (redis.exceptions.RedisError, OSError, TimeoutError) as exc:
        if ratelimit.failure_mode() == "open":
            return None
        raise PromptGateError(
            "budget store is unavailable",
            code="rate_limiter_unavailable",
            status=503,
            headers={"Retry-After": "1"},
        ) from exc


def _db_reserve(counters: list[Counter], amounts: list[int]) -> int | None:
    """Conditional UPDATEs in one transaction: all counters move, or (on refusal) none does."""
    from django.db import transaction
    from django.db.models import F

    from gateways.ai.models import BudgetCounter

    _db_ensure(counters)
    with transaction.atomic():
        for i, (counter, amount) in enumerate(zip(counters, amounts, strict=True)):
            updated = BudgetCounter.objects.filter(key=counter.key, value__lt=counter.cap).update(
                value=F("value") + amount
            )
            if not updated:
                transaction.set_rollback(True)
                return i
    return None


def _db_settle(counters: list[Counter], deltas: list[int]) -> None:
    from django.db import transaction
    from django.db.models import F

    from gateways.ai.models import BudgetCounter

    _db_ensure(counters)
    with transaction.atomic():
        for counter, delta in zip(counters, deltas, strict=True):
            if delta:
                BudgetCounter.objects.filter(key=counter.key).update(value=F("value") + delta)


_pruned = {"at": 0.0}
PRUNE_EVERY = 600.0  # seconds between sweeps of expired counter rows, per process


def _db_ensure(counters: list[Counter]) -> None:
    """Create missing counter rows (no signals: bulk insert) and drop expired windows now and then."""
    from django.db import connection

    from gateways.ai.models import BudgetCounter

    at = [datetime.datetime.fromtimestamp(c.expires_at, datetime.UTC) for c in counters]
    BudgetCounter.objects.bulk_create(
        [BudgetCounter(key=c.key, value=0, expires_at=e) for c, e in zip(counters, at, strict=True)],
        ignore_conflicts=True,
    )
    now = time.time()
    if now - _pruned["at"] >= PRUNE_EVERY:
        _pruned["at"] = now
        # Raw SQL: a queryset delete would fire per-row signals (audit rows, config bumps).
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {BudgetCounter._meta.db_table} WHERE expires_at < %s",  # noqa: S608 (our table name)
                [datetime.datetime.now(datetime.UTC)],
            )


DEFAULT_COMPLETION_ESTIMATE = 256


def estimate_tokens(body: Mapping[str, object]) -> tuple[int, int]:
    """(prompt, completion) tokens to reserve: ~4 characters a token, and max_tokens or a default."""
    import orjson

    prompt = len(orjson.dumps(body.get("messages") or body.get("input") or "")) // 4 + 1
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    completion = limit if isinstance(limit, int) and limit > 0 else DEFAULT_COMPLETION_ESTIMATE
    choices = body.get("n")
    return prompt, completion * (choices if isinstance(choices, int) and choices > 1 else 1)
