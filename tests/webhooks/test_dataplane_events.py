"""Data-plane events: `emit` queues (no database on the caller's path); budget alerts once per window."""

from __future__ import annotations

import pytest

from gateways.ai.budget_store import Counter
from gateways.common import db
from gateways.common.runtime import Runtime
from webhooks import budget_alerts, emit
from webhooks.models import Event

pytestmark = pytest.mark.django_db(transaction=True)


def counter(window: str = "2026-12-02", cap: int = 1_000) -> Counter:
    return Counter(f"ai:budget:p1:d:{window}", cap, 2_000_000_000, "budget", "project", "daily")


@pytest.fixture
def writer(monkeypatch, make_webhook):
    """The batched writer, flushed on demand by the test (its thread is not started)."""
    make_webhook(project=None, events=["*"])  # somebody listens: events without one are not written
    queued: list[emit.PendingEvent] = []
    monkeypatch.setattr(
        emit, "emit", lambda *a, **k: queued.append(emit.PendingEvent(a[0], a[1], **k)) or True
    )
    monkeypatch.setattr(budget_alerts, "emit", emit.emit)
    Runtime.reset_process_state()  # no threshold announced yet in this process

    def flush() -> list[emit.PendingEvent]:
        batch = list(queued)
        queued.clear()
        emit.write_events(batch)
        return batch

    return flush


def test_thresholds_once_per_window_and_again_in_the_next(writer):
    budget_alerts.observe(counter(), 400)
    assert writer() == []
    budget_alerts.observe(counter(), 850)  # 50 and 80 crossed together
    budget_alerts.observe(counter(), 900)
    assert sorted(e.data["threshold_percent"] for e in writer()) == [50, 80]
    budget_alerts.observe(counter(), 1_050)
    assert sorted(e.type for e in writer()) == ["budget.exhausted", "budget.threshold_crossed"]
    budget_alerts.observe(counter("2026-12-03"), 600)  # the next day starts afresh
    [next_day] = writer()
    assert next_day.data["window"] == "2026-12-03" and next_day.data["threshold_percent"] == 50
    keys = set(Event.objects.values_list("dedupe_key", flat=True))
    assert "ai:budget:p1:d:2026-12-02:80" in keys and len(keys) == 5


def test_a_second_process_cannot_send_it_again(writer):
    budget_alerts.observe(counter(), 600)
    writer()
    Runtime.reset_process_state()  # another process: it never announced anything
    budget_alerts.observe(counter(), 700)
    assert len(writer()) == 1  # it tries...
    assert Event.objects.filter(type="budget.threshold_crossed").count() == 1  # ...the outbox refuses


def test_emit_touches_no_database_on_the_callers_path(monkeypatch):
    calls = db.counter.calls
    queued: list = []
    monkeypatch.setattr(emit.writer(), "submit", queued.append)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        emit.emit("upstream.down", {"kind": "mcp_server", "id": 1}, project_id=1)
    assert len(queries) == 0 and db.counter.calls == calls and len(queued) == 1


def test_guardrail_blocks_are_aggregated_per_rule_and_minute(writer, make_project, monkeypatch):
    project = make_project(name="Guarded")
    monkeypatch.setattr(emit, "emit", emit.emit)  # drain() calls the module's emit: the fixture's queue
    minute = 29_000_000 * 60
    blocks = emit.GuardrailBlocks()
    monkeypatch.setattr(blocks, "_thread", object())  # no background thread: the test drains
    for at in (minute + 1, minute + 20, minute + 59):
        blocks.blocked("no-secrets", level="project", stage="input", project_id=project.pk, at=at)
    blocks.blocked("no-secrets", level="project", stage="input", project_id=project.pk, at=minute + 61)
    assert blocks.drain(now=minute + 30) == 0  # the minute has not ended
    # Ended: sent at once without Redis; with it, added to the shared count and sent once settled.
    assert blocks.drain(now=minute + 65) + blocks.drain(now=minute + 60 + blocks.settle) == 1
    [sent] = writer()
    assert sent.data["count"] == 3 and sent.project_id == project.pk
    other = emit.GuardrailBlocks()  # another process, same rule and minute
    monkeypatch.setattr(other, "_thread", object())
    other.blocked("no-secrets", level="project", stage="input", project_id=project.pk, at=minute + 5)
    other.drain(now=minute + 65)
    other.drain(now=minute + 60 + other.settle)
    writer()
    [event] = Event.objects.filter(type="guardrail.blocked")
    assert event.payload["data"]["count"] == 3 and event.payload["data"]["project"]["name"] == "Guarded"


def test_a_guardrail_refusal_on_any_gateway_counts_toward_the_event(make_project, monkeypatch):
    """The router announces every `block` hit of a refused request (rule, level, stage, project)."""
    from types import SimpleNamespace

    from gateways.common import router

    project = make_project(name="Routed")
    seen: list[tuple] = []
    monkeypatch.setattr(
        emit, "guardrail_blocked", lambda rule, **where: seen.append((rule, where["level"], where["stage"]))
    )
    hits = [
        {"rule": "no-keys", "level": "project", "stage": "input", "action": "block", "count": 1},
        {"rule": "pii", "level": "global", "stage": "input", "action": "redact", "count": 2},
    ]
    greq = SimpleNamespace(
        project=SimpleNamespace(id=project.pk), log={"guardrails": {"blocked": True, "hits": hits}}
    )
    router._announce_blocks(greq)
    assert seen == [("no-keys", "project", "input")]
    greq.log["guardrails"]["blocked"] = False  # a redaction alone is no refusal
    router._announce_blocks(greq)
    assert len(seen) == 1
