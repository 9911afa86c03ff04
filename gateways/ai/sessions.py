"""AI endpoint sessions: conversation turns in the database, one call at a time per session, any process.

The turns live in Session rows (so every process, the admin and the management API see them). Calls on
one session are serialised by a lease: a Redis key (SET NX PX) when Redis is configured, otherwise a
conditional UPDATE of the row's `locked_until` (works alike on SQLite and PostgreSQL, and holds no
connection during the LLM call). Waiters poll until the lease is theirs or the wait runs out (409).
Rows are written with bulk inserts and queryset updates in a worker thread: no signals, so no audit row
and no config-version bump per turn; expired rows are swept now and then.
"""

from __future__ import annotations

import asyncio
import datetime
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import redis.exceptions
from django.db import connection
from django.db.models import Q

from gateways.ai.models import Session
from gateways.common import db, redis_clients
from promptgate.errors import ErrorCode, PromptGateError

SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{8,128}$")
LEASE_SECONDS = 300.0  # a crashed holder blocks its session at most this long
WAIT_SECONDS = 60.0  # how long a second call waits for the first before 409 session_busy
PRUNE_EVERY = 600.0
_pruned = {"at": 0.0}

LUA_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def new_session_id() -> str:
    return "s_" + secrets.token_urlsafe(24)


def check_session_id(value: Any) -> str:
    if not isinstance(value, str) or not SESSION_ID.match(value):
        raise PromptGateError(
            "Invalid session_id",
            code=ErrorCode.VALIDATION_ERROR,
            fields={"session_id": ["8 to 128 characters: letters, digits, _ and -."]},
        )
    return value


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def trim(messages: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """The last `limit` messages, starting with a user turn (never an orphaned answer)."""
    kept = messages[-limit:] if limit > 0 else []
    while kept and kept[0].get("role") != "user":
        kept = kept[1:]
    return kept


@dataclass
class HeldSession:
    """A session whose lease this call holds: its history, then `save` (or `release`) exactly once."""

    endpoint_id: int
    key: str
    token: str
    ttl_seconds: int
    history_limit: int
    messages: list[dict[str, Any]] = field(default_factory=list)
    done: bool = False

    async def save(self, turn: list[dict[str, Any]]) -> None:
        """Append this call's turn, trim, push the expiry forward and release the lease."""
        if self.done:
            return
        messages = trim([*self.messages, *turn], self.history_limit)
        expires = _now() + datetime.timedelta(seconds=self.ttl_seconds)
        if redis_clients.enabled():
            try:
                await db.run_sync(_db_save, self.endpoint_id, self.key, "", messages, expires)
            finally:
                await self.release()
            return
        self.done = True  # one thread hop: the turn and the lease's release in one UPDATE
        await db.run_sync(_db_save, self.endpoint_id, self.key, self.token, messages, expires)

    async def release(self) -> None:
        if self.done:
            return
        self.done = True
        if redis_clients.enabled():
            try:
                await redis_clients.async_client().eval(LUA_RELEASE, 1, _lock_key(self), self.token)
            except (redis.exceptions.RedisError, OSError):
                pass  # the lease expires by itself
        else:
            await db.run_sync(_db_release, self.endpoint_id, self.key, self.token)


def _lock_key(held: HeldSession | tuple[int, str]) -> str:
    endpoint_id, key = (held.endpoint_id, held.key) if isinstance(held, HeldSession) else held
    return redis_clients.key("ai:session-lock", endpoint_id, key)


async def acquire(
    endpoint_id: int, key: str, ttl_seconds: int, history_limit: int, wait: float = WAIT_SECONDS
) -> HeldSession:
    """Take the session's lease (waiting for a concurrent call to finish) and read its history."""
    token = secrets.token_hex(16)
    held = HeldSession(endpoint_id, key, token, ttl_seconds, history_limit)
    deadline = time.monotonic() + wait
    pause = 0.02
    while True:
        if redis_clients.enabled():
            messages = await _redis_acquire(held)
        else:
            messages = await db.run_sync(_db_acquire, endpoint_id, key, token, ttl_seconds)
        if messages is not None:
            held.messages = messages
            return held
        if time.monotonic() >= deadline:
            raise PromptGateError(
                "Another call on this session is still running", code=ErrorCode.SESSION_BUSY, status=409
            )
        await asyncio.sleep(pause)
        pause = min(pause * 1.5, 0.25)


async def _redis_acquire(held: HeldSession) -> list[dict[str, Any]] | None:
    client = redis_clients.async_client()
    try:
        taken = await client.set(_lock_key(held), held.token, nx=True, px=int(LEASE_SECONDS * 1000))
    except (redis.exceptions.RedisError, OSError) as exc:
        raise PromptGateError(
            "session store is unavailable", code=ErrorCode.SESSION_STORE_UNAVAILABLE, status=503
        ) from exc
    if not taken:
        return None
    try:
        return await db.run_sync(_db_read, held.endpoint_id, held.key)
    except BaseException:
        await held.release()
        raise


# --- database work (worker threads) ------------------------------------------------------------------
def _live(messages: Any, expires_at: datetime.datetime | None) -> list[dict[str, Any]]:
    if expires_at is None or expires_at <= _now() or not isinstance(messages, list):
        return []  # an expired session starts over under the same id
    return messages


def _db_read(endpoint_id: int, key: str) -> list[dict[str, Any]]:
    row = Session.objects.filter(endpoint_id=endpoint_id, key=key).values("messages", "expires_at").first()
    return _live(row["messages"], row["expires_at"]) if row else []


def _ensure(endpoint_id: int, key: str, ttl_seconds: int) -> None:
    now = _now()
    Session.objects.bulk_create(
        [
            Session(
                endpoint_id=endpoint_id,
                key=key,
                messages=[],
                created_at=now,
                updated_at=now,
                expires_at=now + datetime.timedelta(seconds=ttl_seconds),
            )
        ],
        ignore_conflicts=True,
    )


def _db_acquire(endpoint_id: int, key: str, token: str, ttl_seconds: int) -> list[dict[str, Any]] | None:
    _ensure(endpoint_id, key, ttl_seconds)
    now = _now()
    taken = (
        Session.objects.filter(endpoint_id=endpoint_id, key=key)
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
        .update(lock_token=token, locked_until=now + datetime.timedelta(seconds=LEASE_SECONDS))
    )
    if not taken:
        return None
    return _db_read(endpoint_id, key)


def _db_save(
    endpoint_id: int, key: str, token: str, messages: list[dict[str, Any]], expires: datetime.datetime
) -> None:
    _ensure(endpoint_id, key, 60)
    rows = Session.objects.filter(endpoint_id=endpoint_id, key=key)
    changes: dict[str, Any] = {"messages": messages, "updated_at": _now(), "expires_at": expires}
    if token:
        # Our lease (database mode): release it in the same statement. Were it lost to an expired
        # lease, the turn is still kept; only the other holder's lock stays in place.
        if rows.filter(lock_token=token).update(**changes, lock_token="", locked_until=None):
            _prune()
            return
    rows.update(**changes)
    _prune()


def _db_release(endpoint_id: int, key: str, token: str) -> None:
    Session.objects.filter(endpoint_id=endpoint_id, key=key, lock_token=token).update(
        lock_token="", locked_until=None
    )


def _prune() -> None:
    """Drop expired, unlocked sessions every PRUNE_EVERY seconds per process (raw SQL: no signals)."""

    if time.time() - _pruned["at"] < PRUNE_EVERY:
        return
    _pruned["at"] = time.time()
    now = _now()
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {Session._meta.db_table} WHERE expires_at < %s "  # noqa: S608 (our table name)
            "AND (locked_until IS NULL OR locked_until < %s)",
            [now, now],
        )
