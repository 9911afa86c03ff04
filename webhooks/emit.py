"""Events from the data plane: `emit(...)` hands them to a bounded batched writer, never to the database.

The request path (or a settler thread) calls `emit`, which is a `deque.append` (BatchedWriter.submit:
never blocks, never raises, drops and counts when full). The writer's thread records each event
through the outbox, one transaction per event, off the request path. `dedupe_key` makes an event
"once" across every process: the outbox's unique key refuses the second writer.

Producers: budget_alerts (budgets), `upstream_changed` (MCP health; AI failover can call it with
kind="ai_provider"), `guardrail_blocked` (for the guardrail engine, aggregated per rule and minute):

    from webhooks.emit import guardrail_blocked
    guardrail_blocked(rule.name, level=rule.level, stage="input", project_id=project.id)

`data` gets a `project` object ({"uuid", "name"}) added by the writer when `project_id` is given.
"""

from __future__ import annotations

import atexit
import datetime
import functools
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import redis.exceptions
from django.conf import settings
from django.db import transaction

from gateways.ai.models import AIEndpoint
from gateways.common import redis_clients
from gateways.common.db import release_connections
from gateways.common.writer import BatchedWriter
from gateways.mcp.models import McpServer
from projects.models import ApiToken, Project
from webhooks import outbox
from webhooks.models import Event

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PendingEvent:
    type: str
    data: dict[str, Any] = field(default_factory=dict)
    project_id: int | None = None
    dedupe_key: str | None = None
    subject: str = (
        ""  # "p12", "t34", "e5" (budget subjects), "m7" (an MCP server): the writer finds the project
    )
    state: str = ""  # a stateful subject ("mcp:7"): only a change of its state is sent, once


def _project_of_subject(subject: str) -> int | None:
    kind, raw = subject[:1], subject[1:]
    if not raw.isdigit():
        return None
    pk = int(raw)
    if kind == "p":
        return pk
    if kind == "t":
        return ApiToken.objects.filter(pk=pk).values_list("project_id", flat=True).first()
    if kind == "e":
        return AIEndpoint.objects.filter(pk=pk).values_list("project_id", flat=True).first()
    if kind == "m":
        return McpServer.objects.filter(pk=pk).values_list("project_id", flat=True).first()
    return None


def _state_key(item: PendingEvent) -> str | None:
    """The dedupe key of a state change (`state:<subject>:<n>`), or None when it is no change.

    Every process that sees the same change computes the same next key, so the outbox keeps one.
    """

    prefix = f"state:{item.state}:"
    last = Event.objects.filter(dedupe_key__startswith=prefix).order_by("-created_at").first()
    if last is None:
        # Nothing announced yet: a first "down" is news, a first "recovered" is not.
        return None if item.type.endswith(".recovered") else f"{prefix}1"
    if last.type == item.type:
        return None
    return f"{prefix}{int(str(last.dedupe_key).rsplit(':', 1)[1]) + 1}"


def write_events(batch: list[PendingEvent]) -> None:
    """The writer thread's flush: each event through the outbox in its own transaction."""

    try:
        for item in batch:
            try:
                project_id = item.project_id
                if project_id is None and item.subject:
                    project_id = _project_of_subject(item.subject)
                project = Project.objects.filter(pk=project_id).first() if project_id else None
                data = dict(item.data)
                if project is not None:
                    data.setdefault("project", {"uuid": str(project.uuid), "name": project.name})
                dedupe_key = item.dedupe_key
                if item.state:
                    dedupe_key = _state_key(item)
                    if dedupe_key is None:
                        continue
                with transaction.atomic():
                    outbox.record(item.type, data, project=project, dedupe_key=dedupe_key)
            except Exception:  # one bad event must not cost the rest of the batch
                logger.warning("could not record a %s webhook event", item.type, exc_info=True)
    finally:
        release_connections()


@functools.cache
def writer() -> BatchedWriter[PendingEvent]:
    """This process's event writer (one per process), drained at exit."""
    events = BatchedWriter(
        "webhook-events",
        write_events,
        max_queue=settings.PROMPTGATE_WRITER_QUEUE_SIZE,
        batch_size=100,
        interval=settings.PROMPTGATE_WRITER_FLUSH_SECONDS,
    )
    atexit.register(events.stop)
    return events


def emit(
    event_type: str,
    data: dict[str, Any],
    *,
    project_id: int | None = None,
    dedupe_key: str | None = None,
    subject: str = "",
) -> bool:
    """Queue a data-plane event; False when the buffer is full (dropped and counted). Never blocks."""
    return writer().submit(PendingEvent(event_type, data, project_id, dedupe_key, subject))


def upstream_changed(kind: str, upstream_id: int, name: str, *, ok: bool, error: str = "") -> bool:
    """upstream.down / upstream.recovered for an upstream whose health changed as this process sees it.

    `kind`: "mcp_server" (gateways/mcp/health.py calls this) or "ai_provider" (for AI failover).
    `error` must be a safe, address-free message (the data plane's upstream error messages are).
    """
    data: dict[str, Any] = {"kind": kind, "name": name, "id": upstream_id}
    if not ok:
        data["error"] = error[:200]
    subject = f"m{upstream_id}" if kind == "mcp_server" else ""
    event = PendingEvent(
        "upstream.recovered" if ok else "upstream.down", data, subject=subject, state=f"{kind}:{upstream_id}"
    )
    return writer().submit(event)


BlockKey = tuple[int | None, str, str, str, int]  # project id, rule, level, stage, window index


class GuardrailBlocks:
    """`guardrail.blocked`, aggregated: at most one event per rule per window (a minute), with the count.

    `blocked(...)` is a dict increment under a lock (request path safe: no I/O). A small thread wakes
    every few seconds and handles the windows that have ended. Without Redis it emits this process's
    count at once. With REDIS_URL every process adds its count to one Redis counter per (project,
    rule, level, stage, window) as soon as the window ends, then, `settle` seconds later (by when every
    process has added its own), reads the total and emits it: every process sends the same count, and
    the dedupe key (rule + window) keeps one event across processes. Redis unreachable: the local
    count is emitted (an event is never lost for want of a sum).
    """

    def __init__(self, every: float | None = None, window: int | None = None) -> None:
        self.window = window or max(1, int(settings.PROMPTGATE_GUARDRAIL_EVENT_SECONDS))
        self.every = every if every is not None else min(5.0, self.window / 4)
        self.settle = 3 * self.every  # every process drains within `every` of a window's end
        self._counts: dict[BlockKey, int] = {}
        self._settling: dict[BlockKey, int] = {}  # added to Redis, emitted once settled (local count)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def blocked(
        self, rule: str, *, level: str, stage: str, project_id: int | None, at: float | None = None
    ) -> None:
        key = (project_id, rule, level, stage, int(time.time() if at is None else at) // self.window)
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="guardrail-blocks", daemon=True)
                self._thread.start()

    def drain(self, now: float | None = None, *, everything: bool = False) -> int:
        """Handle the windows that have ended (all of them at shutdown); returns how many events."""
        moment = time.time() if now is None else now
        current = int(moment) // self.window
        with self._lock:
            done = {k: n for k, n in self._counts.items() if everything or k[4] < current}
            for key in done:
                del self._counts[key]
        if not done and not self._settling:
            return 0

        if not redis_clients.enabled():
            return self._emit(done)
        try:
            self._add_to_shared(done)
        except (redis.exceptions.RedisError, OSError):
            logger.warning("guardrail.blocked counts could not be summed in Redis; sent per process")
            return self._emit(done)
        self._settling.update(done)  # the thread alone drains: no lock needed for this dict
        due = {
            k: n
            for k, n in self._settling.items()
            if everything or moment >= (k[4] + 1) * self.window + self.settle
        }
        for key in due:
            del self._settling[key]
        try:
            totals = self._shared_totals(list(due))
        except (redis.exceptions.RedisError, OSError):
            totals = due
        return self._emit(totals)

    def _redis_key(self, key: BlockKey) -> str:
        project_id, rule, level, stage, index = key
        return redis_clients.key("guardrail-blocks", project_id, level, rule, stage, self.window, index)

    def _add_to_shared(self, counts: dict[BlockKey, int]) -> None:
        if not counts:
            return

        pipe = redis_clients.sync_client().pipeline(transaction=False)
        for key, count in counts.items():
            pipe.incrby(self._redis_key(key), count)
            pipe.expire(self._redis_key(key), 3600 + 2 * self.window)
        pipe.execute()

    def _shared_totals(self, keys: list[BlockKey]) -> dict[BlockKey, int]:
        if not keys:
            return {}

        values = redis_clients.sync_client().mget([self._redis_key(k) for k in keys])
        return {k: int(v or 0) for k, v in zip(keys, values, strict=True)}

    def _emit(self, counts: dict[BlockKey, int]) -> int:
        for (project_id, rule, level, stage, index), count in counts.items():
            window = datetime.datetime.fromtimestamp(index * self.window, datetime.UTC).isoformat()
            data = {"rule": rule, "level": level, "stage": stage, "count": count, "window_start": window}
            emit(
                "guardrail.blocked",
                data,
                project_id=project_id,
                dedupe_key=f"guardrail.blocked:{project_id}:{level}:{rule}:{stage}:{index}",
            )
        return len(counts)

    def _run(self) -> None:
        while True:
            time.sleep(self.every)
            try:
                self.drain()
            except Exception:  # the thread must outlive one bad pass
                logger.warning("guardrail.blocked drain failed", exc_info=True)


@functools.cache
def guardrail_blocks() -> GuardrailBlocks:
    blocks = GuardrailBlocks()

    def drain_at_exit() -> None:
        blocks.drain(everything=True)
        writer().stop()

    atexit.register(drain_at_exit)
    return blocks


def guardrail_blocked(rule: str, *, level: str, stage: str, project_id: int | None) -> None:
    """For the guardrail engine (issue 16): count one block; sent aggregated per rule and minute."""
    guardrail_blocks().blocked(rule, level=level, stage=stage, project_id=project_id)
