"""budget.threshold_crossed and budget.exhausted: spotted where budget counters change, sent via `emit`.

The budget stores call `observe(counter, value)` with a counter's value after a settlement: the Redis
settler thread with the values its script returns, the in-memory store (one process) from memory.
Each process remembers what it already announced per counter window, so it emits a threshold at most
once; the outbox's unique `dedupe_key` (budget window key + threshold) makes it exactly once across
all processes. A counter's key names its period window (`ai:budget:p12:d:2026-12-02`), so the next
day or month starts afresh.
"""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from typing import Any

from django.conf import settings

from gateways.common import process_state
from webhooks.emit import emit

NANO = Decimal(1_000_000_000)
EXHAUSTED = -1
# counter key -> (expires_at, thresholds announced)
_announced: dict[str, tuple[int, set[int]]] = process_state.keep("webhooks.budget_alerts_announced", {})
_lock = threading.Lock()
_next_prune = 0.0


def _usd(nanos: int) -> str:
    return str((Decimal(nanos) / NANO).quantize(Decimal("0.000001")))


def _prune(now: float) -> None:
    global _next_prune
    if now < _next_prune:
        return
    _next_prune = now + 60
    for key in [k for k, (expires, _) in _announced.items() if expires <= now]:
        del _announced[key]


def observe(counter: Any, value: int) -> None:
    """Called with a budget counter's value after a change; emits any threshold not yet announced."""
    cap = counter.cap
    if counter.kind != "budget" or cap <= 0:
        return
    percents = settings.PROMPTGATE_BUDGET_ALERT_PERCENTS
    reached = [p for p in percents if value * 100 >= p * cap]
    if value >= cap:
        reached.append(EXHAUSTED)
    if not reached:
        return
    now = time.time()
    with _lock:
        _prune(now)
        _expires, done = _announced.setdefault(counter.key, (counter.expires_at, set()))
        fresh = [p for p in reached if p not in done]
        done.update(fresh)
    if not fresh:
        return
    # ai:budget:<subject>:<d|m>:<window>
    _, _, subject, _, window = counter.key.split(":", 4)
    base = {
        "scope": counter.scope,
        "subject": subject,
        "period": counter.period,
        "window": window,
        "limit_usd": _usd(cap),
        "spent_usd": _usd(value),
    }
    for percent in fresh:
        if percent == EXHAUSTED:
            emit("budget.exhausted", base, subject=subject, dedupe_key=f"{counter.key}:exhausted")
        else:
            data = {**base, "threshold_percent": percent}
            emit("budget.threshold_crossed", data, subject=subject, dedupe_key=f"{counter.key}:{percent}")
