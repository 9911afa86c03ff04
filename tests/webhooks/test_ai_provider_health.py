"""upstream.down / upstream.recovered for an AI provider, end to end: a real gateway process, a mock
provider that fails then recovers, the official `openai` client, and deliveries to a real receiver
verified with `standardwebhooks` (a third party's verifier)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import openai
import pytest
from standardwebhooks.webhooks import Webhook as Verifier
from standardwebhooks.webhooks import WebhookVerificationError

from audit import context
from tests.mock_llm import KEYS
from tests.servers import GatewayProcess, running_gateway
from tests.webhooks.conftest import run_due
from webhooks.models import Event

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def gateway(django_db_setup) -> Iterator[GatewayProcess]:
    with running_gateway() as process:  # its own process: provider health starts unknown
        yield process


def wait_for_events(count: int, timeout: float = 20.0) -> list[Event]:
    deadline = time.monotonic() + timeout
    while True:
        events = list(Event.objects.filter(type__startswith="upstream.").order_by("created_at"))
        if len(events) >= count or time.monotonic() > deadline:
            return events
        time.sleep(0.05)


def test_a_failing_then_recovered_provider_is_announced_and_delivered_signed(
    gateway, mock_llm, make_project, make_token, make_webhook, receiver
):
    from credentials.models import Credential, ProviderAssignment

    project = make_project("Failing AI", project_type="ai_gateway")
    _, token = make_token(project, scopes=["ai"])
    with context.bind(actor=context.SYSTEM):
        credential = Credential.objects.create(
            provider="openai", name="mock", api_key=KEYS["openai"], base_url=mock_llm.base_url("openai")
        )
        ProviderAssignment.objects.create(project=project, provider="openai", credential=credential)
    _hook, secret = make_webhook(project=None, events=["upstream.down", "upstream.recovered"])
    gateway.sync_config()
    client = openai.OpenAI(
        base_url=gateway.url(f"/api/{project.uuid}/v1"), api_key=token, max_retries=0, timeout=20
    )
    ask = [{"role": "user", "content": "hello"}]
    assert client.chat.completions.create(model="gpt-4o-mini", messages=ask).choices  # healthy: no news
    for _ in range(2):  # the provider answers 503: down, announced once
        with pytest.raises(openai.APIStatusError) as failed:
            client.chat.completions.create(model="gpt-4o-mini+fail-503", messages=ask)
        assert failed.value.status_code == 502
    assert wait_for_events(1)[0].type == "upstream.down"
    client.chat.completions.create(model="gpt-4o-mini", messages=ask)  # it answers again: recovered
    client.chat.completions.create(model="gpt-4o-mini", messages=ask)
    events = wait_for_events(2)
    assert [e.type for e in events] == ["upstream.down", "upstream.recovered"]
    assert run_due() == 2  # what a webhook worker does: deliver both
    delivered = receiver.wait_for_count(2)
    verifier = Verifier(secret)
    payloads = [verifier.verify(r.body, r.headers) for r in delivered]
    assert sorted(p["type"] for p in payloads) == ["upstream.down", "upstream.recovered"]
    down = next(p for p in payloads if p["type"] == "upstream.down")
    assert down["data"]["kind"] == "ai_provider" and down["data"]["name"] == "openai"
    assert down["data"]["error"] and "127.0.0.1" not in str(down) and KEYS["openai"] not in str(down)
    recovered = next(p for p in payloads if p["type"] == "upstream.recovered")
    assert recovered["data"]["id"] == down["data"]["id"] and "error" not in recovered["data"]
    tampered = delivered[0].body.replace(b"openai", b"OPENAI")
    with pytest.raises(WebhookVerificationError):
        verifier.verify(tampered, delivered[0].headers)
    assert Event.objects.filter(type__startswith="upstream.").count() == 2  # still one of each
