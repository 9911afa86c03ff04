"""Worker processes: two never deliver the same attempt; one killed mid-delivery loses nothing."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from tests.webhooks.receiver import Reply
from tests.webhooks.workers import WorkerProcess
from webhooks.models import Delivery, DeliveryAttempt, DeliveryStatus

pytestmark = pytest.mark.django_db(transaction=True)


def wait_until(condition, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_two_workers_deliver_each_event_once(receiver, make_webhook, make_project):
    _hook, secret = make_webhook(events=["project.created"])
    workers = [WorkerProcess().start(), WorkerProcess().start()]
    try:
        for i in range(40):
            make_project(name=f"Fan out {i}")
        wait_until(
            lambda: Delivery.objects.filter(status=DeliveryStatus.SUCCEEDED).count() == 40,
            what="40 successful deliveries",
        )
        ids = Counter(r.headers["webhook-id"] for r in receiver.requests)
        assert len(ids) == 40 and set(ids.values()) == {1}  # every event once, none twice
        assert DeliveryAttempt.objects.count() == 40
        for worker in workers:
            log = worker.output()
            assert secret not in log and "Fan out" not in log  # neither the secret nor a body logged
    finally:
        for worker in workers:
            worker.stop()
            worker.cleanup()


def test_a_worker_killed_mid_delivery_loses_nothing(receiver, make_webhook, make_project):
    hold = threading.Event()
    receiver.replies.append(Reply(200, hold=hold))  # the first POST hangs until we let go
    make_webhook(events=["project.created"])
    first = WorkerProcess().start()
    second = None
    try:
        make_project(name="Interrupted")
        receiver.wait_for_count(1)
        assert Delivery.objects.get().status == DeliveryStatus.DELIVERING
        first.kill()  # SIGKILL while the receiver holds its request
        hold.set()
        second = WorkerProcess().start()
        wait_until(
            lambda: Delivery.objects.filter(status=DeliveryStatus.SUCCEEDED).exists(),
            what="the delivery to be taken over",
        )
        first_id, again_id = (r.headers["webhook-id"] for r in receiver.wait_for_count(2))
        assert first_id == again_id  # the same webhook-id: the receiver can deduplicate
        [attempt] = Delivery.objects.get().attempts.all()
        assert attempt.succeeded
    finally:
        first.stop()
        first.cleanup()
        if second is not None:
            second.stop()
            second.cleanup()
