"""Gateway sessions shared by every process: Redis when configured, else the McpSession table.

A session id is 32 random bytes; stores key it by its SHA-256, so a dump of Redis or the database holds
no usable id. Each record carries the project, the token that opened it (another token gets 404), the
negotiated revision and the upstream session ids the tool source keeps behind it.

Every request of a session looks it up, so lookups stay off the slow paths: Redis answers one script
on the lean pipelined client (read and TTL refresh in one round trip); the table is read through a
process-local write-through cache, which is sound because the table serves only the embedded, single
process setup (more than one worker requires Redis, see promptgate/gunicorn_conf.py).
"""

from __future__ import annotations

import datetime
import hashlib
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from gateways.common import db, redis_clients
from gateways.common.transport.resp import Script
from gateways.mcp.models import McpSession

_UPSTREAM = "u:"
_TOUCH_EVERY = datetime.timedelta(seconds=60)  # DB store: refresh last_seen at most this often


@dataclass
class GatewaySession:
    id: str
    project_uuid: str
    token_id: int
    protocol_version: str
    upstream: dict[str, str] = field(default_factory=dict)


def new_session_id() -> str:
    return "mcps_" + secrets.token_urlsafe(32)


def digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "replace")).hexdigest()


def _looks_valid(session_id: str) -> bool:
    return 0 < len(session_id) <= 200 and session_id.isascii() and session_id.isprintable()


class RedisSessions:
    def _key(self, session_id: str) -> str:
        return redis_clients.key("mcp", "session", digest(session_id))

    async def create(self, project_uuid: str, token_id: int, version: str) -> GatewaySession:
        session = GatewaySession(new_session_id(), project_uuid, token_id, version)
        key = self._key(session.id)
        async with redis_clients.async_client().pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"p": project_uuid, "t": str(token_id), "v": version})
            pipe.expire(key, settings.PROMPTGATE_MCP_SESSION_TTL_SECONDS)
            await pipe.execute()
        return session

    async def get(self, session_id: str) -> GatewaySession | None:
        flat = await redis_clients.lean_client().run(
            _GET_AND_TOUCH, [self._key(session_id)], [settings.PROMPTGATE_MCP_SESSION_TTL_SECONDS]
        )
        return _from_hash(session_id, dict(zip(flat[::2], flat[1::2], strict=True)))

    async def save_upstream(self, session_id: str, changes: dict[str, str | None]) -> None:
        key = self._key(session_id)
        client = redis_clients.async_client()
        async with client.pipeline(transaction=True) as pipe:
            for name, value in changes.items():
                if value is None:
                    pipe.hdel(key, _UPSTREAM + name)
                else:
                    pipe.hset(key, _UPSTREAM + name, value)
            await pipe.execute()

    async def delete(self, session_id: str) -> GatewaySession | None:
        key = self._key(session_id)
        async with redis_clients.async_client().pipeline(transaction=True) as pipe:
            pipe.hgetall(key)
            pipe.delete(key)
            raw, _ = await pipe.execute()
        return _from_hash(session_id, raw)


# The hash, its TTL refreshed when it exists (an EXPIRE on a missing key would be a wasted write).
_GET_AND_TOUCH = Script(
    """
local fields = redis.call('HGETALL', KEYS[1])
if #fields > 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return fields
"""
)


def _from_hash(session_id: str, raw: dict[bytes, bytes]) -> GatewaySession | None:
    if not raw or b"p" not in raw:
        return None
    fields = {k.decode(): v.decode() for k, v in raw.items()}
    upstream = {k[len(_UPSTREAM) :]: v for k, v in fields.items() if k.startswith(_UPSTREAM)}
    return GatewaySession(session_id, fields["p"], int(fields["t"]), fields["v"], upstream)


class _SessionCache:
    """Sessions this process created or read, by digest, with when the table last saw each used.

    Bounded (least recently used out first). An entry answers a lookup until the session's idle TTL
    runs out; the table's `last_seen_at` is refreshed through the database at most every
    `_TOUCH_EVERY`, so an active session never expires in the table under a restarted process.
    """

    MAX_ENTRIES = 10_000

    def __init__(self) -> None:
        # digest → (session, monotonic time of last use, monotonic time the table was last touched)
        self._entries: OrderedDict[str, tuple[GatewaySession, float, float]] = OrderedDict()

    def get(self, key: str) -> tuple[GatewaySession, float] | None:
        """The session and when its row was last touched, if it is cached and not idle past its TTL."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        session, used, touched = entry
        now = time.monotonic()
        if now - used > settings.PROMPTGATE_MCP_SESSION_TTL_SECONDS:
            del self._entries[key]
            return None
        self._entries[key] = (session, now, touched)
        self._entries.move_to_end(key)
        return session, touched

    def put(self, key: str, session: GatewaySession, touched: float | None = None) -> None:
        now = time.monotonic()
        self._entries[key] = (session, now, now if touched is None else touched)
        self._entries.move_to_end(key)
        while len(self._entries) > self.MAX_ENTRIES:
            self._entries.popitem(last=False)

    def drop(self, key: str) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()


class DatabaseSessions:
    """The embedded default's store: the McpSession table behind a process-local cache.

    Table work runs in a worker thread, never on the loop; a warm lookup touches no database.
    """

    cache = _SessionCache()  # one per process: the store is stateless, its instances are per call

    async def create(self, project_uuid: str, token_id: int, version: str) -> GatewaySession:
        session = GatewaySession(new_session_id(), project_uuid, token_id, version)
        await db.run_sync(_db_create, session)
        self.cache.put(digest(session.id), _copy(session))
        return session

    async def get(self, session_id: str) -> GatewaySession | None:
        key = digest(session_id)
        cached = self.cache.get(key)
        if cached is not None:
            session, touched = cached
            if time.monotonic() - touched > _TOUCH_EVERY.total_seconds():
                # Keep the row alive for a later process; this also notices a row deleted under us.
                if not await db.run_sync(_db_touch, key):
                    self.cache.drop(key)
                    return None
                self.cache.put(key, session)
            return _copy(session)
        found = await db.run_sync(_db_get, session_id)
        if found is not None:
            self.cache.put(key, _copy(found))
        return found

    async def save_upstream(self, session_id: str, changes: dict[str, str | None]) -> None:
        key = digest(session_id)
        self.cache.drop(key)  # re-read on next use: the table holds the merged state
        await db.run_sync(_db_save_upstream, session_id, changes)

    async def delete(self, session_id: str) -> GatewaySession | None:
        self.cache.drop(digest(session_id))
        return await db.run_sync(_db_delete, session_id)


def _copy(session: GatewaySession) -> GatewaySession:
    """Callers may change `upstream`; the cached record must not change with it."""
    return GatewaySession(
        session.id, session.project_uuid, session.token_id, session.protocol_version, dict(session.upstream)
    )


def _cutoff() -> datetime.datetime:
    return timezone.now() - datetime.timedelta(seconds=settings.PROMPTGATE_MCP_SESSION_TTL_SECONDS)


def _db_create(session: GatewaySession) -> None:
    now = timezone.now()
    # bulk_create and _raw_delete send no signals: sessions are neither audited nor config.
    McpSession.objects.bulk_create(
        [
            McpSession(
                digest=digest(session.id),
                project_uuid=session.project_uuid,
                token_id=session.token_id,
                protocol_version=session.protocol_version,
                upstream_sessions={},
                created_at=now,
                last_seen_at=now,
            )
        ]
    )
    expired = McpSession.objects.filter(last_seen_at__lt=_cutoff())
    expired._raw_delete(expired.db)


def _db_get(session_id: str) -> GatewaySession | None:
    row = McpSession.objects.filter(digest=digest(session_id), last_seen_at__gte=_cutoff()).first()
    if row is None:
        return None
    now = timezone.now()
    if now - row.last_seen_at > _TOUCH_EVERY:
        McpSession.objects.filter(pk=row.pk).update(last_seen_at=now)
    return GatewaySession(
        session_id,
        str(row.project_uuid),
        row.token_id,
        row.protocol_version,
        dict(row.upstream_sessions or {}),
    )


def _db_touch(key: str) -> bool:
    """Refresh a live row's last_seen_at; False when it is gone or already expired."""

    rows = McpSession.objects.filter(digest=key, last_seen_at__gte=_cutoff())
    return rows.update(last_seen_at=timezone.now()) > 0


def _db_save_upstream(session_id: str, changes: dict[str, str | None]) -> None:
    with transaction.atomic():
        row = McpSession.objects.select_for_update().filter(digest=digest(session_id)).first()
        if row is None:
            return
        upstream = dict(row.upstream_sessions or {})
        for name, value in changes.items():
            if value is None:
                upstream.pop(name, None)
            else:
                upstream[name] = value
        McpSession.objects.filter(pk=row.pk).update(upstream_sessions=upstream)


def _db_delete(session_id: str) -> GatewaySession | None:
    rows = McpSession.objects.filter(digest=digest(session_id))
    row = rows.first()
    if row is None:
        return None
    rows._raw_delete(rows.db)
    if row.last_seen_at < _cutoff():
        return None
    return GatewaySession(
        session_id,
        str(row.project_uuid),
        row.token_id,
        row.protocol_version,
        dict(row.upstream_sessions or {}),
    )


SessionStore = RedisSessions | DatabaseSessions


def store() -> SessionStore:
    return RedisSessions() if redis_clients.enabled() else DatabaseSessions()


async def lookup(session_id: str) -> GatewaySession | None:
    if not _looks_valid(session_id):
        return None
    return await store().get(session_id)
