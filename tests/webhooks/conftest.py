"""Webhook fixtures: a real receiver server, webhooks pointing at it, and an SSRF allowance for 127.0.0.1."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings

from audit import context
from tests.projects.api.conftest import client_for  # noqa: F401  (shared fixture)
from tests.webhooks.receiver import Receiver
from webhooks import clock, services
from webhooks.models import Delivery, Webhook


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _receiver_reset(request) -> Iterator[None]:
    if "receiver" in request.fixturenames:
        request.getfixturevalue("receiver").reset()
    with override_settings(PROMPTGATE_SSRF_ALLOW=["127.0.0.0/8"]):
        yield


@pytest.fixture
def make_webhook(db, receiver):
    def make(project: Any = None, events: list[str] | None = None, **fields: Any) -> tuple[Webhook, str]:
        with context.bind(actor=context.SYSTEM):
            return services.create_webhook(
                project, url=fields.pop("url", receiver.url()), events=events or ["*"], **fields
            )

    return make


class Clock:
    """A controllable clock for webhooks.clock.now."""

    def __init__(self) -> None:
        self.at = datetime.datetime.now(datetime.UTC)

    def __call__(self) -> datetime.datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += datetime.timedelta(seconds=seconds)


@pytest.fixture
def fake_clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(clock, "now", fake)
    return fake


def run_due(now: datetime.datetime | None = None) -> int:
    """Run every due delivery in this process (what a worker does), returning how many were attempted."""
    from webhooks import delivery

    now = now or clock.now()
    ran = 0
    for pk in (
        Delivery.objects.filter(next_attempt_at__lte=now, status="pending")
        .order_by("pk")
        .values_list("pk", flat=True)
    ):
        if delivery.run(pk) is not None:
            ran += 1
    return ran
