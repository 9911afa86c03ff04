"""Gateway sessions shared by every process: Redis when configured, else the McpSession table.

A session id is 32 random bytes; stores key it by its SHA-256, so a dump of Redis or the database holds
no usable id. Each record carries the project, the token that opened it (another token gets 404), the
negotiated revision and the upstream session ids the tool source keeps behind it.
"""

from __future__ import annotations

import datetime
import hashlib
import secrets
from dataclasses import dataclass, field

from django.utils import timezone

from gateways.common import db, redis_clients
from gateways.mcp import conf

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
            pipe.expire(key, conf.session_ttl_seconds())
            await pipe.execute()
        return session

    async def get(self, session_id: str) -> GatewaySession | None:
        key = self._key(session_id)
        async with redis_clients.async_client().pipeline(transaction=True) as pipe:
            pipe.hgetall(key)
            pipe.expire(key, conf.session_ttl_seconds())
            raw, _ = await pipe.execute()
        return _from_hash(session_id, raw)

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


def _from_hash(session_id: str, raw: dict[bytes, bytes]) -> GatewaySession | None:
    if not raw or b"p" not in raw:
        return None
    fields = {k.decode(): v.decode() for k, v in raw.items()}
    upstream = {k[len(_UPSTREAM) :]: v for k, v in fields.items() if k.startswith(_UPSTREAM)}
    return GatewaySession(session_id, fields["p"], int(fields["t"]), fields["v"], upstream)


class DatabaseSessions:
    """The embedded default's store; each call runs in a worker thread, never on the loop."""

    async def create(self, project_uuid: str, token_id: int, version: str) -> GatewaySession:
        session = GatewaySession(new_session_id(), project_uuid, token_id, version)
        await db.run_sync(_db_create, session)
        return session

    async def get(self, session_id: str) -> GatewaySession | None:
        return await db.run_sync(_db_get, session_id)

    async def save_upstream(self, session_id: str, changes: dict[str, str | None]) -> None:
        await db.run_sync(_db_save_upstream, session_id, changes)

    async def delete(self, session_id: str) -> GatewaySession | None:
        return await db.run_sync(_db_delete, session_id)


def _cutoff() -> datetime.datetime:
    return timezone.now() - datetime.timedelta(seconds=conf.session_ttl_seconds())


def _db_create(session: GatewaySession) -> None:
    from gateways.mcp.models import McpSession

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
    from gateways.mcp.models import McpSession

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


def _db_save_upstream(session_id: str, changes: dict[str, str | None]) -> None:
    from django.db import transaction

    from gateways.mcp.models import McpSession

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
    from gateways.mcp.models import McpSession

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
