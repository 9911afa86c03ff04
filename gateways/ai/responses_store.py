"""Stored Responses API answers: `GET /v1/responses/{id}` and `previous_response_id`, for every process.

Each entry holds the Response object and the full input that produced it, so the next turn's context is
that input plus the response's output. With Redis an entry is one key (SET EX: expiry by Redis, one
round trip to save or load). Without Redis there is one serving process (more are refused at start),
so an entry is kept in its memory until a batched writer has inserted it as a StoredResponse row
(bulk inserts, no signals: no audit row, no config bump; flushed on shutdown), and reads look in that
memory first: no database write on the request path. Rows past their expiry are swept now and then.
Entries live PROMPTGATE_AI_RESPONSE_TTL_SECONDS. A Redis outage answers 503 `response_store_unavailable`.
"""

from __future__ import annotations

import datetime
import functools
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
import redis.exceptions
from django.conf import settings
from django.db import DatabaseError, connection

from gateways.ai.errors import OpenAIError
from gateways.ai.models import StoredResponse
from gateways.common import db, redis_clients
from gateways.common.writer import BatchedWriter
from promptgate.errors import ErrorCode

if TYPE_CHECKING:
    from gateways.common.runtime import Runtime

logger = logging.getLogger(__name__)
JSON = dict[str, Any]
Key = tuple[int, str]  # (project id, response id)
Pending = tuple[Key, JSON, datetime.datetime, datetime.datetime]  # key, payload, created, expires
PRUNE_EVERY = 600.0
_pruned = {"at": 0.0}
_REDIS_DOWN = (redis.exceptions.RedisError, OSError, TimeoutError)


@dataclass(frozen=True, slots=True)
class Stored:
    response: JSON
    input: list[JSON]

    def conversation(self) -> list[JSON]:
        """The context a follow-up turn continues: this response's input, then its output."""
        return [*self.input, *(self.response.get("output") or [])]


def ttl() -> int:
    return max(1, int(settings.PROMPTGATE_AI_RESPONSE_TTL_SECONDS or 1))


def _key(project_id: int, response_id: str) -> str:
    return redis_clients.key("ai:response", project_id, response_id)


def _unavailable(exc: BaseException) -> OpenAIError:
    return OpenAIError(
        "the response store is unavailable",
        code=ErrorCode.RESPONSE_STORE_UNAVAILABLE,
        status=503,
        type="api_error",
    )


async def save(project_id: int, response: JSON, input_items: list[JSON]) -> None:
    payload = {"response": response, "input": input_items}
    if redis_clients.enabled():
        try:
            await redis_clients.lean_client().execute(
                "SET", _key(project_id, response["id"]), orjson.dumps(payload), "EX", ttl()
            )
        except _REDIS_DOWN as exc:
            raise _unavailable(exc) from exc
        return
    local_store().save((project_id, str(response["id"])), payload)


async def load(project_id: int, response_id: str) -> Stored | None:
    if redis_clients.enabled():
        try:
            raw = await redis_clients.lean_client().execute("GET", _key(project_id, response_id))
        except _REDIS_DOWN as exc:
            raise _unavailable(exc) from exc
        payload = orjson.loads(raw) if raw else None
    else:
        payload = local_store().pending.get((project_id, response_id))
        if payload is None:
            payload = await db.run_sync(_db_load, project_id, response_id)
    if not isinstance(payload, dict):
        return None
    return Stored(payload.get("response") or {}, list(payload.get("input") or []))


async def delete(project_id: int, response_id: str) -> bool:
    if redis_clients.enabled():
        try:
            return bool(await redis_clients.lean_client().execute("DEL", _key(project_id, response_id)))
        except _REDIS_DOWN as exc:
            raise _unavailable(exc) from exc
    was_pending = local_store().forget((project_id, response_id))
    return await db.run_sync(_db_delete, project_id, response_id) or was_pending


def attach(runtime: Runtime) -> None:
    """Have `runtime` drain this process's response writer on shutdown (and report it in /metrics)."""
    if not redis_clients.enabled():
        writer = local_store().writer
        if writer not in runtime.extra_writers:
            runtime.extra_writers.append(writer)


class LocalStore:
    """Entries not yet written (this process's memory) and the writer that inserts them in batches."""

    def __init__(self) -> None:
        self.pending: dict[Key, JSON] = {}
        self.deleted: set[Key] = set()  # deleted while pending: not to be inserted
        self.writer: BatchedWriter[Pending] = BatchedWriter(
            "ai-responses",
            self._flush,
            max_queue=settings.PROMPTGATE_WRITER_QUEUE_SIZE,
            batch_size=settings.PROMPTGATE_WRITER_BATCH_SIZE,
            interval=settings.PROMPTGATE_WRITER_FLUSH_SECONDS,
        )

    def save(self, key: Key, payload: JSON) -> None:
        now = _now()
        self.pending[key] = payload
        if not self.writer.submit((key, payload, now, now + datetime.timedelta(seconds=ttl()))):
            self.pending.pop(key, None)  # the bounded queue is full: counted as dropped
            raise OpenAIError(
                "the response store is saturated",
                code=ErrorCode.RESPONSE_STORE_UNAVAILABLE,
                status=503,
                type="api_error",
            )

    def forget(self, key: Key) -> bool:
        if self.pending.pop(key, None) is None:
            return False
        self.deleted.add(key)
        return True

    def _flush(self, batch: list[Pending]) -> None:
        rows = [
            StoredResponse(
                project_id=key[0], response_id=key[1], data=payload, created_at=created, expires_at=expires
            )
            for key, payload, created, expires in batch
            if key not in self.deleted
        ]
        try:
            try:
                StoredResponse.objects.bulk_create(rows, ignore_conflicts=True)
            except DatabaseError:  # one row's project was deleted meanwhile: keep the others
                for row in rows:
                    try:
                        StoredResponse.objects.bulk_create([row], ignore_conflicts=True)
                    except DatabaseError:
                        logger.warning("stored response %s not kept: its project is gone", row.response_id)
            raced = [key for key, *_ in batch if key in self.deleted]
            for project_id, response_id in raced:  # deleted while this batch was being written
                _db_delete(project_id, response_id)
            _prune()
        finally:
            for key, *_ in batch:
                self.pending.pop(key, None)
                self.deleted.discard(key)


@functools.cache
def local_store() -> LocalStore:
    """This process's store without Redis (one per process, like the budget store)."""
    return LocalStore()


# --- database work (worker threads) ------------------------------------------------------------------
def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _db_load(project_id: int, response_id: str) -> JSON | None:
    row = (
        StoredResponse.objects.filter(project_id=project_id, response_id=response_id, expires_at__gt=_now())
        .values("data")
        .first()
    )
    return row["data"] if row else None


def _db_delete(project_id: int, response_id: str) -> bool:
    with connection.cursor() as cursor:  # raw SQL: a queryset delete would send per-row signals
        cursor.execute(
            f"DELETE FROM {StoredResponse._meta.db_table} "  # noqa: S608 (our table name)
            "WHERE project_id = %s AND response_id = %s AND expires_at > %s",
            [project_id, response_id, _now()],
        )
        return cursor.rowcount > 0


def _prune() -> None:
    """Drop expired rows every PRUNE_EVERY seconds per process."""

    if time.time() - _pruned["at"] < PRUNE_EVERY:
        return
    _pruned["at"] = time.time()
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {StoredResponse._meta.db_table} WHERE expires_at < %s",  # noqa: S608
            [_now()],
        )
