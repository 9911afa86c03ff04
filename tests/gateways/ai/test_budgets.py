"""Budgets and AI rate limits across gateway processes: concurrent overrun bound, per token, RPM and TPM.

With REDIS_URL (and PostgreSQL) two gateway processes share the counters, which is the point: the
limits are atomic across processes. Without Redis the product runs one process (more are refused at
start), RPM/TPM live in that process and budgets in the database, so one process on SQLite is the
faithful setup there.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx
import openai
import pytest

from audit import context
from tests.helpers import log_rows
from tests.servers import GatewayProcess

pytestmark = pytest.mark.django_db(transaction=True)
HI = [{"role": "user", "content": "hi"}]


def limits(world, gateways: GatewayProcess | list[GatewayProcess] = (), token=None, **fields) -> None:
    """Create a usage limit, then wait until every running gateway process serves it."""
    from gateways.ai.models import UsageLimit

    with context.bind(actor=context.SYSTEM):
        UsageLimit.objects.create(project=world.project, token=token, **fields)
    for gateway in [gateways] if isinstance(gateways, GatewayProcess) else gateways:
        gateway.sync_config()


def price(provider: str, model: str, per_million: int) -> None:
    from gateways.ai.models import PriceOverride

    with context.bind(actor=context.SYSTEM):
        PriceOverride.objects.create(
            provider=provider, model=model, input_per_million=per_million, output_per_million=per_million
        )


def post(gateway, world, token: str | None = None, **body) -> httpx.Response:
    return httpx.post(
        gateway.url(f"/api/{world.uuid}/v1/chat/completions"),
        headers={"Authorization": f"Bearer {token or world.token}"},
        json={"model": "openai:priced", "messages": HI, "max_tokens": 20, **body},
        timeout=20,
    )


def test_concurrent_requests_cannot_overrun_the_budget(world, gateway_pair, mock_llm):
    price("openai", "priced", 10)  # 30 tokens a call at $10/M: $0.0003 a call
    per_call = Decimal("0.0003")
    budget = Decimal("0.001")
    limits(world, gateway_pair, daily_budget=budget)
    mock_llm.delay = 0.5  # every request is in flight at once: none settled before the others start
    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda i: post(gateway_pair[i % len(gateway_pair)], world), range(12)))
    ok = [a for a in answers if a.status_code == 200]
    refused = [a for a in answers if a.status_code != 200]
    assert all(a.status_code == 429 and a.json()["error"]["code"] == "budget_exceeded" for a in refused)
    assert all(a.headers["x-should-retry"] == "false" for a in refused)
    # Reservations stop admissions once admitted work reaches the budget: 4 fit (each reserves ~$0.00029).
    assert 1 <= len(ok) <= 4, [a.status_code for a in answers]
    spent = sum((r.cost or 0 for r in log_rows(world.project, 12) if r.status == 200), Decimal(0))
    assert spent == per_call * len(ok)
    assert spent <= budget + per_call  # the overrun is bounded by what was in flight when it ran out
    mock_llm.delay = 0.0
    after = post(gateway_pair[0], world)
    assert after.status_code == 429 and after.json()["error"]["type"] == "insufficient_quota"


def test_budget_429_is_not_retried_by_the_sdk(world, gateway_proc, mock_llm):
    price("openai", "priced", 100_000)  # one call spends $3
    limits(world, gateway_proc, monthly_budget=Decimal("1"))
    client = world.sdk(gateway_proc).with_options(max_retries=3)
    client.chat.completions.create(model="openai:priced", messages=HI)
    calls = len(mock_llm.requests)
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="openai:priced", messages=HI)
    assert caught.value.response.json()["error"]["code"] == "budget_exceeded"
    assert caught.value.response.headers["x-should-retry"] == "false"  # the SDK's own "do not retry"
    assert len(mock_llm.requests) == calls
    assert len([r for r in log_rows(world.project, 2) if r.status == 429]) == 1


@pytest.mark.parametrize("period", ["daily_budget", "monthly_budget"])
def test_a_budget_set_mid_period_counts_the_spend_before_it(world, gateway_proc, period):
    price("openai", "priced", 100_000)  # one call spends $3
    assert post(gateway_proc, world).status_code == 200  # no budget yet: spent, logged, rolled up
    assert log_rows(world.project, 1)[0].cost == Decimal("3")
    limits(world, gateway_proc, **{period: Decimal("2")})  # below what the period already spent
    refused = post(gateway_proc, world)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "budget_exceeded"


def test_token_budget_applies_to_that_token_only(world, gateway_proc, make_token):
    price("openai", "priced", 100_000)
    _, other = make_token(world.project, scopes=["ai"], name="other")
    limits(world, gateway_proc, token=world.token_row, daily_budget=Decimal("1"))
    assert post(gateway_proc, world).status_code == 200
    refused = post(gateway_proc, world)
    assert refused.status_code == 429 and "token" in refused.json()["error"]["message"]
    assert post(gateway_proc, world, token=other).status_code == 200
    assert post(gateway_proc, world, token=other).status_code == 200


def test_requests_per_minute_across_processes(world, gateway_pair):
    limits(world, gateway_pair, requests_per_minute=2)
    first, second = gateway_pair[0], gateway_pair[-1]
    assert post(first, world).status_code == 200
    assert post(second, world).status_code == 200
    refused = post(first, world)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert "x-should-retry" not in refused.headers  # a rate limit passes: retrying later is right


def test_tokens_per_minute_per_token_across_processes(world, gateway_pair, make_token):
    limits(world, gateway_pair, token=world.token_row, tokens_per_minute=50)
    first, second = gateway_pair[0], gateway_pair[-1]
    assert post(first, world).status_code == 200  # 30 tokens used
    assert post(second, world).status_code == 200  # 30 < 50 admitted: 60 used
    refused = post(first, world)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    _, other = make_token(world.project, scopes=["ai"], name="other")
    assert post(second, world, token=other).status_code == 200


def test_the_days_spend_survives_a_restart(world, mock_llm, settings):
    """Without Redis the counters live in the process: shutdown writes them, the next process reads them."""
    from gateways.ai.models import BudgetCounter

    price("openai", "priced", 20_000)  # 30 tokens a call: $0.60 (each reserves ~$0.58)
    limits(world, daily_budget=Decimal("1"))
    first = GatewayProcess(PROMPTGATE_AI_ATTEMPT_TIMEOUT="5").start()
    try:
        assert post(first, world).status_code == 200
    finally:
        first.stop()  # SIGTERM: the lifespan shutdown drains the budget writer
        first.cleanup()
    if not settings.REDIS_URL:
        assert (
            BudgetCounter.objects.get(key__startswith=f"ai:budget:p{world.project.id}:d:").value
            == 600_000_000
        )
    second = GatewayProcess(PROMPTGATE_AI_ATTEMPT_TIMEOUT="5").start()
    try:
        assert post(second, world).status_code == 200  # $0.60 < $1: admitted, now $1.20
        refused = post(second, world)
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "budget_exceeded"
    finally:
        second.stop()
        second.cleanup()
