"""budget.threshold_crossed / budget.exhausted from real gateway processes: each threshold once per window.

With PostgreSQL + Redis two gateway processes share the budget, and each sees (and emits) thresholds
the other already announced: the outbox's unique key keeps one. On SQLite one process serves.
"""

from __future__ import annotations

import time
from decimal import Decimal

import httpx
import pytest

from tests.gateways.ai.test_budgets import limits, post, price
from webhooks.models import Event

pytestmark = pytest.mark.django_db(transaction=True)


def wait_for_events(count: int, timeout: float = 20.0) -> list[Event]:
    deadline = time.monotonic() + timeout
    while True:
        events = list(Event.objects.filter(type__startswith="budget.").order_by("created_at"))
        if len(events) >= count or time.monotonic() > deadline:
            return events
        time.sleep(0.05)


def listening() -> None:
    """A global webhook for every event (no worker runs here: its deliveries only wait)."""
    from webhooks.models import Webhook
    from webhooks.signing import generate_secret

    Webhook.objects.create(url="https://hooks.example.com/x", events=["*"], secret=generate_secret())


def wait_until_quiet(gateway, timeout: float = 20.0) -> None:
    """Until the process's budget and webhook-event writers have written everything submitted."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        writers = httpx.get(gateway.url("/readyz"), timeout=5).json()["writers"]
        mine = [w for name, w in writers.items() if name.startswith(("ai-budget", "webhook-events"))]
        if len(mine) >= 2 and all(w["submitted"] == w["written"] + w["dropped"] for w in mine):
            return
        time.sleep(0.05)
    raise AssertionError(f"writers of {gateway.url()} still busy")


def test_each_threshold_fires_once_across_processes(world, gateway_pair, mock_llm):
    listening()
    price("openai", "priced", 20_000)  # 30 tokens a call: $0.60
    limits(world, gateway_pair, daily_budget=Decimal("2"))
    statuses = [post(gateway_pair[i % len(gateway_pair)], world).status_code for i in range(6)]
    assert statuses[:4] == [200, 200, 200, 200] and statuses[4:] == [429, 429]  # $2.40 spent, then refused
    wait_for_events(4)
    for gateway in gateway_pair:  # every process has written all it emitted: a duplicate would be in
        wait_until_quiet(gateway)
    events = list(Event.objects.filter(type__startswith="budget.").order_by("created_at"))
    crossed = sorted(e.payload["data"]["threshold_percent"] for e in events if e.type.endswith("crossed"))
    assert crossed == [50, 80, 100]
    [exhausted] = [e for e in events if e.type == "budget.exhausted"]
    data = exhausted.payload["data"]
    assert data["scope"] == "project" and data["period"] == "daily" and data["limit_usd"] == "2.000000"
    assert data["project"]["uuid"] == world.uuid
    assert all(e.project_uuid == world.project.uuid for e in events)
    emitted = sum(
        httpx.get(g.url("/readyz"), timeout=5).json()["writers"]["webhook-events"]["submitted"]
        for g in gateway_pair
    )
    if len(gateway_pair) == 2:  # each process announced thresholds the other had: the outbox kept one
        assert emitted > len(events)
    else:
        assert emitted == len(events)
