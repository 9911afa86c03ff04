"""`guardrail.blocked` from two real gateway processes: one event per rule and window whose count is
every process's blocks, summed in Redis (PostgreSQL + Redis only: on SQLite one process serves)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from django.conf import settings
from django.test import override_settings

from gateways.http.models import ApiEndpoint
from tests.gateways.guardrails.conftest import add_rule
from tests.servers import GatewayProcess, running_gateways
from webhooks.models import Event

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.REDIS_URL, reason="summing across processes needs REDIS_URL"),
]
WINDOW = 6  # seconds: one event per rule and window; the processes drain every 1.5 s


@pytest.fixture
def two_gateways(django_db_setup) -> Iterator[list[GatewayProcess]]:
    with running_gateways(2, PROMPTGATE_GUARDRAIL_EVENT_SECONDS=str(WINDOW)) as processes:
        yield processes


def test_two_processes_send_one_event_with_both_counts(two_gateways, make_project, make_token, make_webhook):
    make_webhook(project=None, events=["guardrail.blocked"])  # somebody listens: the events are kept
    project = make_project("Guarded twice", project_type="api_gateway")
    _, token = make_token(project, scopes=["proxy"])
    with override_settings(PROMPTGATE_SSRF_ALLOW=["127.0.0.0/8"]):
        endpoint = ApiEndpoint(project=project, slug="m", upstream_url="http://127.0.0.1:9/never-reached")
        endpoint.full_clean()
        endpoint.save()
    add_rule(
        project,
        name="no-falcon",
        kind="keywords",
        action="block",
        stage="input",
        config={"words": ["falcon"]},
    )
    for gateway in two_gateways:
        gateway.sync_config()
    sent = 0
    for i in range(8):  # refused before the upstream: 400 guardrail_blocked, alternately on each process
        response = httpx.post(
            two_gateways[i % 2].url(f"/api/{project.uuid}/proxy/m"),
            content=b"the falcon plan",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "text/plain"},
            timeout=20,
        )
        assert response.status_code == 400 and response.json()["error"]["code"] == "guardrail_blocked"
        sent += 1
    # Every window that saw blocks has one event, and the counts add up to every block of both processes
    # (with per-process counts the first process's own would win the dedupe key and lose the other's).
    deadline = time.monotonic() + 4 * WINDOW + 30
    while time.monotonic() < deadline:
        events = list(Event.objects.filter(type="guardrail.blocked"))
        if sum(e.payload["data"]["count"] for e in events) >= sent:
            break
        time.sleep(0.1)
    counts = [e.payload["data"]["count"] for e in events]
    assert sum(counts) == sent, counts
    assert {e.payload["data"]["rule"] for e in events} == {"no-falcon"}
    windows = [e.payload["data"]["window_start"] for e in events]
    assert len(windows) == len(set(windows))  # one event per window across the processes
    assert all(e.payload["data"]["project"]["uuid"] == str(project.uuid) for e in events)
