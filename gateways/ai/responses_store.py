"""Stored Responses API answers: `GET /v1/responses/{id}` and `previous_response_id`, for every process.

Each entry holds the Response object and the full input that produced it, so the next turn's context is
that input plus the response's output. With Redis an entry is one key (SET EX: expiry by Redis, one
round trip to save or load); without Redis a StoredResponse row written by a bulk insert in a worker
thread (no signals: no audit row, no config bump), swept once expired. Entries live
PROMPTGATE_AI_RESPONSE_TTL_SECONDS. A Redis outage answers 503 `response_store_unavailable`.
"""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass
from typing import Any

import orjson
import redis.exceptions
from django.conf import settings

from gateways.ai.errors import OpenAIError
from gateways.common import db, redis_clients

JSON = dict[str, Any]
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
        "the response store is unavailable", code="response_store_unavailable", status=503, type="api_error"
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
    await db.run_sync(_db_save, project_id, str(response["id"]), payload)


async def load(project_id: int, response_id: str) -> Stored | None:
    if redis_clients.enabled():
        try:
            raw = await redis_clients.lean_client().execute("GET", _key(project_id, response_id))
        except _REDIS_DOWN as exc:
            raise _unavailable(exc) from exc
        payload = orjson.loads(raw) if raw else None
    else:
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
    return await db.run_sync(_db_delete, project_id, response_id)


# --- database work (worker threads) ------------------------------------------------------------------
def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _db_save(project_id: int, response_id: str, payload: JSON) -> None:
    from gateways.ai.models import StoredResponse

    now = _now()
    row = StoredResponse(
        project_id=project_id,
        response_id=response_id,
        data=payload,
        created_at=now,
        expires_at=now + datetime.timedelta(seconds=ttl()),
    )
    StoredResponse.objects.bulk_create([row], ignore_conflicts=True)
    _prune()


def _db_load(project_id: int, response_id: str) -> JSON | None:
    from gateways.ai.models import StoredResponse

    row = (
        StoredResponse.objects.filter(project_id=project_id, response_id=response_id, expires_at__gt=_now())
        .values("data")
        .first()
    )
    return row["data"] if row else None


def _db_delete(project_id: int, response_id: str) -> bool:
    from django.db import connection

    from gateways.ai.models import StoredResponse

    with connection.cursor() as cursor:  # raw SQL: a queryset delete would send per-row signals
        cursor.execute(
            f"DELETE FROM {StoredResponse._meta.db_table} "  # noqa: S608 (our table name)
            "WHERE project_id = %s AND response_id = %s AND expires_at > %s",
            [project_id, response_id, _now()],
        )
        return cursor.rowcount > 0


def _prune() -> None:
    """Drop expired rows every PRUNE_EVERY seconds per process."""
    from django.db import connection

    from gateways.ai.models import StoredResponse

    if time.time() - _pruned["at"] < PRUNE_EVERY:
        return
    _pruned["at"] = time.time()
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {StoredResponse._meta.db_table} WHERE expires_at < %s",  # noqa: S608
            [_now()],
        )
