"""The request-log process: batches written by a child process, acknowledged, and survived failures."""

from __future__ import annotations

import os
import signal
import sys
import time
import uuid

import pytest
from django.utils import timezone

from audit.models import RequestLog
from gateways.common.log_process import LogProcessError, RequestLogProcess
from gateways.common.writer import BatchedWriter

pytestmark = pytest.mark.django_db(transaction=True)


def _rows(n: int, marker: str) -> list[dict[str, object]]:
    return [
        {
            "time": timezone.now(),
            "project_uuid": str(uuid.uuid4()),
            "gateway": "http",
            "method": "GET",
            "path": f"/api/x/proxy/{marker}/{i}",
            "status": 200,
            "latency_ms": 1.5,
            "request_id": f"{marker}-{i}",
        }
        for i in range(n)
    ]


@pytest.fixture
def child():
    process = RequestLogProcess()
    yield process
    process.close()


def test_a_batch_is_written_by_another_process_before_it_is_acknowledged(child):
    child([*_rows(3, "first")])
    assert child.pid is not None and child.pid != os.getpid()
    # Acknowledged means committed: the rows are there as soon as the call returns.
    assert sorted(
        RequestLog.objects.filter(path__contains="/first/").values_list("request_id", flat=True)
    ) == [
        "first-0",
        "first-1",
        "first-2",
    ]


def test_a_child_that_died_between_batches_is_replaced_before_the_next(child):
    child(_rows(1, "before"))
    first = child.pid
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while child._proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    child(_rows(1, "after"))  # nothing was in flight: nothing is lost
    assert child.pid not in (None, first)
    assert {"before-0", "after-0"} <= set(RequestLog.objects.values_list("request_id", flat=True))


def test_a_child_that_dies_mid_batch_fails_that_batch_and_the_next_starts_anew():
    # A child that reads a batch and exits without acknowledging it, then the real one.
    dies = (
        "import sys; sys.stdout.write('ready\\n'); sys.stdout.flush(); sys.stdin.buffer.read(4); sys.exit(3)"
    )
    child = RequestLogProcess(command=[sys.executable, "-c", dies])
    try:
        with pytest.raises(LogProcessError):
            child(_rows(1, "lost"))
        assert child.pid is None  # discarded
        child.command = RequestLogProcess().command
        child(_rows(1, "kept"))
    finally:
        child.close()
    ids = set(RequestLog.objects.values_list("request_id", flat=True))
    assert "kept-0" in ids and "lost-0" not in ids


def test_a_batch_the_database_refuses_fails_alone(child):
    child(_rows(1, "ok"))
    pid = child.pid
    bad = _rows(1, "bad")
    bad[0]["gateway"] = None  # NOT NULL: the database refuses the whole batch
    with pytest.raises(LogProcessError):
        child(bad)
    child(_rows(1, "still"))
    assert child.pid == pid  # the same child went on
    assert set(RequestLog.objects.values_list("request_id", flat=True)) == {"ok-0", "still-0"}


def test_the_batched_writer_drains_into_the_child_and_stops_it():
    child = RequestLogProcess()
    writer = BatchedWriter(
        "t", child, batch_size=10, interval=0.05, on_start=child.start, on_stop=child.close
    )
    for row in _rows(25, "w"):
        assert writer.submit(row)
    assert writer.wait_idle(30)
    pid = child.pid
    writer.stop()
    assert writer.stats()["written"] == 25 and writer.stats()["failed_batches"] == 0
    assert RequestLog.objects.filter(path__contains="/w/").count() == 25
    assert child.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the child exited at stop (and was reaped)
