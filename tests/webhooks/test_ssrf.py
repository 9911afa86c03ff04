"""The SSRF guard at every delivery: re-resolved, every address checked, the connection pinned to it."""

from __future__ import annotations

import pytest

from gateways.common import ssrf
from tests.webhooks.conftest import run_due
from webhooks.models import Delivery, DeliveryStatus

pytestmark = pytest.mark.django_db


def test_a_url_that_now_resolves_to_a_private_address_is_refused(
    receiver, make_webhook, make_project, monkeypatch, settings
):
    port = receiver.port
    monkeypatch.setattr(ssrf, "getaddrinfo_sync", lambda host, p: ["93.184.215.14"])  # public at save
    make_webhook(url=f"http://rebind.example:{port}/hook", events=["project.created"])
    settings.PROMPTGATE_SSRF_ALLOW = []
    monkeypatch.setattr(ssrf, "getaddrinfo_sync", lambda host, p: ["93.184.215.14", "127.0.0.1"])
    make_project(name="Rebound")
    run_due()
    [item] = Delivery.objects.all()
    [attempt] = item.attempts.all()
    assert attempt.status_code is None and attempt.error == "ssrf_blocked:loopback"
    assert item.status == DeliveryStatus.PENDING  # retried later, checked again then
    assert receiver.requests == []


def test_the_connection_goes_to_the_checked_address(receiver, make_webhook, make_project, monkeypatch):
    # "pinned.invalid" exists in no DNS: only the address our guard checked can have been dialled.
    port = receiver.port
    monkeypatch.setattr(ssrf, "getaddrinfo_sync", lambda host, p: ["127.0.0.1"])
    make_webhook(url=f"http://pinned.invalid:{port}/hook", events=["project.created"])
    make_project(name="Pinned")
    run_due()
    [got] = receiver.wait_for_count(1)
    assert got.headers["host"] == f"pinned.invalid:{port}"
    assert Delivery.objects.get().status == DeliveryStatus.SUCCEEDED


def test_redirects_are_not_followed(receiver, make_webhook, make_project):
    from tests.webhooks.receiver import Reply

    receiver.replies.append(Reply(302, {"Location": "http://169.254.169.254/"}))
    make_webhook(events=["project.created"])
    make_project(name="Redirected")
    run_due()
    [item] = Delivery.objects.all()
    assert item.last_status_code == 302 and item.status == DeliveryStatus.PENDING
    assert len(receiver.requests) == 1
