"""The bounded batched writer: batches, drops counted when full, drains on stop, survives failures."""

from __future__ import annotations

import threading
import time

import pytest

from gateways.common.writer import BatchedWriter


def test_batches_and_drains_on_stop():
    written: list[list[int]] = []
    writer = BatchedWriter("t", written.append, max_queue=100, batch_size=10, interval=0.05)
    for i in range(25):
        assert writer.submit(i)
    writer.stop()
    assert sorted(x for batch in written for x in batch) == list(range(25))
    assert all(len(batch) <= 10 for batch in written)
    assert writer.stats()["written"] == 25


def test_full_queue_drops_and_counts_without_blocking():
    gate = threading.Event()
    writer = BatchedWriter("t", lambda batch: gate.wait(5), max_queue=5, batch_size=1, interval=0.01)
    accepted = sum(writer.submit(i) for i in range(50))
    assert accepted < 50
    assert writer.stats()["dropped"] == 50 - accepted
    gate.set()
    writer.stop()


def test_a_failing_batch_is_counted_and_the_writer_goes_on():
    seen: list[int] = []

    def flush(batch: list[int]) -> None:
        if 0 in batch:
            raise RuntimeError("database down")
        seen.extend(batch)

    writer = BatchedWriter("t", flush, max_queue=10, batch_size=1, interval=0.01)
    writer.submit(0)
    writer.wait_idle(2)
    writer.submit(1)
    writer.stop()
    assert seen == [1]
    assert writer.stats()["failed_batches"] == 1


@pytest.mark.django_db(transaction=True)
def test_request_log_rows_with_nul_bytes_are_written(project):
    """PostgreSQL refuses NUL in text and jsonb; a client can put one in a path (`/%00`)."""
    from django.utils import timezone

    from audit.models import RequestLog
    from gateways.common.runtime import write_request_logs

    row = {
        "time": timezone.now(),
        "project_uuid": project.uuid,
        "gateway": "http",
        "path": "/api/x/proxy/e/\x00",
        "status": 400,
        "attempts": [{"error": "nul\x00"}],
    }
    write_request_logs([row, {**row, "path": "/plain"}])
    paths = sorted(RequestLog.objects.values_list("path", flat=True))
    assert paths == ["/api/x/proxy/e/\ufffd", "/plain"]
    assert RequestLog.objects.get(path="/plain").attempts == [{"error": "nul\ufffd"}]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("uuid_as", [str, lambda u: u], ids=["uuid-text", "uuid"])
def test_request_log_rows_round_trip_every_column(project, uuid_as):
    """The per-column fast encoder writes what the ORM reads back, for every column and value type."""
    import datetime
    from decimal import Decimal

    from audit.models import RequestLog
    from gateways.common.runtime import write_request_logs

    at = datetime.datetime(2026, 11, 23, 4, 5, 6, 789000, tzinfo=datetime.UTC)
    full = {
        "time": at,
        "project_uuid": uuid_as(project.uuid),
        "gateway": "ai",
        "endpoint": "chat.completions",
        "method": "POST",
        "path": "/api/x/v1/chat/completions",
        "token_prefix": "pg_live_abcd",
        "status": 200,
        "latency_ms": 1.25,
        "upstream_ms": 0.75,
        "bytes_in": 123,
        "bytes_out": 4567,
        "provider": "openai",
        "model": "gpt-4o",
        "tokens_in": 10,
        "tokens_out": 20,
        "cost": Decimal("0.00001234"),
        "guardrails": {"blocked": False, "rules": ["pii"]},
        "attempts": [{"provider": "openai", "status": 200, "ms": 0.7}],
        "error_code": "",
        "request_id": "req-1",
    }
    minimal = {"time": at, "project_uuid": uuid_as(project.uuid), "gateway": "http", "status": 404}
    write_request_logs([full, minimal])
    rows = {r.gateway: r for r in RequestLog.objects.all()}
    written = rows["ai"]
    for name, value in full.items():
        expected = project.uuid if name == "project_uuid" else value
        assert getattr(written, name) == expected, name
    empty = rows["http"]
    assert (empty.endpoint, empty.cost, empty.tokens_in, empty.attempts, empty.guardrails) == (
        "",
        None,
        None,
        [],
        {},
    )
    assert empty.project_uuid == project.uuid and empty.time == at


@pytest.mark.django_db(transaction=True)
def test_batches_of_any_size_use_a_few_statement_texts(project):
    """Every batch size is written whole, and the INSERTs come in a few fixed shapes: sqlite3 keeps each
    distinct statement it prepared (128 per connection), so one shape per batch size grew the process."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from audit.models import RequestLog
    from gateways.common.logrows import MAX_ROWS_PER_INSERT, write_request_logs

    row = {"time": timezone.now(), "project_uuid": project.uuid, "gateway": "http", "status": 200}
    sizes = [1, 2, 3, 63, 64, 65, 127, 200, 999]
    with CaptureQueriesContext(connection) as captured:
        for size in sizes:
            write_request_logs([{**row, "bytes_out": size}] * size)
    for size in sizes:
        assert RequestLog.objects.filter(bytes_out=size).count() == size
    log_insert = 'INSERT INTO "audit_requestlog" '  # not the batch id's and the rollups' (few rows each)
    inserts = {q["sql"].split(" VALUES ")[1].count("(") for q in captured if q["sql"].startswith(log_insert)}
    if connection.vendor == "postgresql":
        assert not inserts  # COPY: no INSERT text at all
    else:
        assert inserts <= {2**i for i in range(MAX_ROWS_PER_INSERT.bit_length())}
        assert max(inserts) == MAX_ROWS_PER_INSERT


def test_items_that_arrive_during_a_write_wait_for_the_next_wake_not_a_batch_of_their_own():
    """A writer that wrote whatever had come in while it wrote made a batch every few milliseconds of
    a handful of rows under steady traffic. Now it writes what was waiting when it woke; what arrives
    meanwhile waits for a full batch, the interval, or stop."""
    batches: list[list[int]] = []
    in_flush, release = threading.Event(), threading.Event()

    def flush(batch: list[int]) -> None:
        batches.append(batch)
        in_flush.set()
        release.wait(5)

    writer = BatchedWriter(
        "t", flush, max_queue=100, batch_size=10, interval=60
    )  # only a full batch wakes it
    for i in range(10):
        writer.submit(i)
    assert in_flush.wait(5)  # the full batch woke it; it is writing
    for i in range(10, 13):  # three arrive meanwhile: before, they were written as a batch of their own
        writer.submit(i)
    release.set()
    # The old writer wrote the three at once, as a batch of their own: give it the chance.
    give_up = time.monotonic() + 0.5
    while len(batches) < 2 and time.monotonic() < give_up:
        time.sleep(0.01)
    assert batches == [list(range(10))]
    for i in range(13, 23):  # the next full batch, then three more for stop
        writer.submit(i)
    writer.stop()
    assert batches == [list(range(10)), list(range(10, 20)), [20, 21, 22]]
    assert writer.stats()["written"] == 23


@pytest.mark.django_db(transaction=True)
def test_a_json_value_rows_share_is_written_to_each(project):
    """Rows of one batch may share a JSON value (a guardrail verdict's entry): encoded once, each row
    stores it; a NUL in one of them is still made safe."""
    from django.utils import timezone

    from audit.models import RequestLog
    from gateways.common.runtime import write_request_logs

    entry = {"blocked": False, "hits": [{"rule": "pii", "count": 2}]}
    nul = {"blocked": True, "hits": [{"rule": "nul\x00"}]}
    base = {"time": timezone.now(), "project_uuid": project.uuid, "gateway": "ai", "status": 200}
    write_request_logs([{**base, "path": f"/{i}", "guardrails": entry if i < 3 else nul} for i in range(5)])
    stored = dict(RequestLog.objects.values_list("path", "guardrails"))
    assert stored == {
        "/0": entry,
        "/1": entry,
        "/2": entry,
        "/3": {"blocked": True, "hits": [{"rule": "nul\ufffd"}]},
        "/4": {"blocked": True, "hits": [{"rule": "nul\ufffd"}]},
    }
