"""upstream.down / upstream.recovered from the MCP health hook; token.expiring from the worker's upkeep."""

from __future__ import annotations

import asyncio
import datetime

import pytest

from audit import context
from gateways.common.runtime import Runtime
from gateways.mcp import health
from gateways.mcp.models import McpServer
from gateways.mcp.upstream import ServerConfig
from tests.webhooks.conftest import run_due
from webhooks import emit, tasks
from webhooks.models import Event

pytestmark = pytest.mark.django_db(transaction=True)


def config(server: McpServer) -> ServerConfig:
    return ServerConfig(
        server.pk,
        server.prefix,
        server.upstream_url,
        "",
        True,
        5.0,
        120.0,
        "auto",
        frozenset(),
        frozenset(),
        None,
    )


def record(server: McpServer, ok: bool, *, fresh_process: bool = False) -> None:
    if fresh_process:
        Runtime.reset_process_state()  # what another process, which saw nothing yet, would do

    async def run() -> None:
        health.record(config(server), ok=ok, error="" if ok else "could not connect to upstream")
        await asyncio.gather(*health._tasks)

    asyncio.run(run())
    emit.writer().stop()  # drain: the writer thread records what was emitted


def test_mcp_upstream_down_and_recovered_once_each(make_project, make_webhook, receiver):
    project = make_project(name="Tools", project_type="mcp_gateway")
    with context.bind(actor=context.SYSTEM):
        server = McpServer.objects.create(project=project, prefix="gh", upstream_url="http://127.0.0.1:9/mcp")
    _hook, secret = make_webhook(project=project, events=["upstream.down", "upstream.recovered"])
    Runtime.reset_process_state()
    record(server, True)  # up from the start: nothing recovered
    assert not Event.objects.exists()
    record(server, False)
    record(server, False, fresh_process=True)  # a second process sees the same outage
    record(server, True)
    types = list(Event.objects.order_by("created_at").values_list("type", flat=True))
    assert types == ["upstream.down", "upstream.recovered"]
    run_due()
    from standardwebhooks.webhooks import Webhook as Verifier

    down = Verifier(secret).verify(receiver.wait_for_count(2)[0].body, receiver.requests[0].headers)
    assert down["data"]["name"] == "gh" and down["data"]["project"]["uuid"] == str(project.uuid)
    assert "127.0.0.1" not in str(down)


def test_token_expiring_once_per_token_and_threshold(make_project, make_token, make_webhook, settings):
    settings.PROMPTGATE_TOKEN_EXPIRY_WARNING_DAYS = [7, 1]
    project = make_project(name="Expiring")
    make_webhook(project=project, events=["token.expiring"])
    soon = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=5)
    token, _ = make_token(project, expires_at=soon)
    make_token(project, name="far", expires_at=soon + datetime.timedelta(days=30))
    assert tasks.warn_expiring_tokens() == 1
    assert tasks.warn_expiring_tokens() == 0  # the next round (or another worker) sends nothing new
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=4, hours=12)
    assert tasks.warn_expiring_tokens(later) == 1  # under a day left: the 1-day warning
    events = Event.objects.filter(type="token.expiring").order_by("created_at")
    assert [e.payload["data"]["days_left"] for e in events] == [4, 0]
    assert [e.dedupe_key for e in events] == [f"token.expiring:{token.pk}:7", f"token.expiring:{token.pk}:1"]


def test_upkeep_prunes_old_task_rows(make_webhook, make_project, receiver):
    from django_tasks_db.models import DBTaskResult

    from tests.webhooks.conftest import run_due

    make_webhook(events=["project.created"])
    make_project(name="Pruned")
    run_due()
    assert DBTaskResult.objects.count() == 1
    DBTaskResult.objects.update(
        status="SUCCESSFUL", finished_at=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    )
    tasks.upkeep()
    assert DBTaskResult.objects.count() == 0


def test_ai_provider_health_changes_are_announced_once_each(monkeypatch):
    """Failover's attempts feed upstream.down / upstream.recovered for AI providers: changes only."""
    from gateways.ai.failover import ProviderHealth
    from webhooks import emit

    sent: list[tuple[str, str, bool, str]] = []
    monkeypatch.setattr(
        emit,
        "upstream_changed",
        lambda kind, _id, name, *, ok, error="": sent.append((kind, name, ok, error)) or True,
    )
    health = ProviderHealth()
    health.observe("openai", 200)  # healthy from the start: nothing to say
    health.observe("openai", 400, "invalid_request")  # the request's fault, not the provider's
    health.observe("openai", 503, "provider_error")
    health.observe("openai", 0)  # still down: said once
    health.observe("anthropic", 429)
    health.observe("openai", 200)
    assert sent == [
        ("ai_provider", "openai", False, "provider_error"),
        ("ai_provider", "anthropic", False, "HTTP 429"),
        ("ai_provider", "openai", True, "HTTP 200"),
    ]
