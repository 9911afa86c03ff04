"""The MCP session stores: a warm lookup costs no database call, and the cache never outlives the row."""

from __future__ import annotations

import datetime

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.utils import timezone

from gateways.common import db, redis_clients
from gateways.mcp import sessions
from gateways.mcp.models import McpSession

PROJECT = "00000000-0000-0000-0000-000000000001"


@pytest.fixture
def store():
    sessions.DatabaseSessions.cache.clear()
    yield sessions.DatabaseSessions()
    sessions.DatabaseSessions.cache.clear()


@pytest.mark.django_db(transaction=True)
def test_a_warm_lookup_makes_no_database_call(store):
    session = async_to_sync(store.create)(PROJECT, 1, "2025-11-25")
    before = db.counter.calls
    for _ in range(5):
        found = async_to_sync(store.get)(session.id)
        assert found is not None and found.token_id == 1 and found.project_uuid == PROJECT
    assert db.counter.calls == before


@pytest.mark.django_db(transaction=True)
def test_a_cold_process_reads_the_table(store):
    session = async_to_sync(store.create)(PROJECT, 3, "2025-06-18")
    store.cache.clear()  # as a restarted process would start
    before = db.counter.calls
    assert async_to_sync(store.get)(session.id).protocol_version == "2025-06-18"
    assert async_to_sync(store.get)(session.id).protocol_version == "2025-06-18"
    assert db.counter.calls == before + 1


@pytest.mark.django_db(transaction=True)
def test_upstream_changes_and_deletes_are_seen_at_once(store):
    session = async_to_sync(store.create)(PROJECT, 1, "2025-11-25")
    found = async_to_sync(store.get)(session.id)
    found.upstream["9"] = "mutated by a caller"  # a caller's copy: the cache must not change with it
    assert async_to_sync(store.get)(session.id).upstream == {}
    async_to_sync(store.save_upstream)(session.id, {"7": "2025-11-25 abc"})
    assert async_to_sync(store.get)(session.id).upstream == {"7": "2025-11-25 abc"}
    async_to_sync(store.delete)(session.id)
    assert async_to_sync(store.get)(session.id) is None
    assert not McpSession.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_row_is_touched_while_the_session_is_used(store, monkeypatch):
    session = async_to_sync(store.create)(PROJECT, 1, "2025-11-25")
    key = sessions.digest(session.id)
    old = timezone.now() - datetime.timedelta(minutes=30)
    McpSession.objects.filter(digest=key).update(last_seen_at=old)
    monkeypatch.setattr(sessions, "_TOUCH_EVERY", datetime.timedelta(0))  # every use touches the row
    assert async_to_sync(store.get)(session.id) is not None
    assert McpSession.objects.get(digest=key).last_seen_at > old
    # A row that is gone (deleted by another path, or expired) ends the cached session too.
    McpSession.objects.filter(digest=key).delete()
    assert async_to_sync(store.get)(session.id) is None


@pytest.mark.django_db(transaction=True)
def test_an_idle_session_expires_from_the_cache(store):
    session = async_to_sync(store.create)(PROJECT, 1, "2025-11-25")
    key = sessions.digest(session.id)
    cached, used, touched = store.cache._entries[key]
    idle = settings.PROMPTGATE_MCP_SESSION_TTL_SECONDS + 1
    store.cache._entries[key] = (cached, used - idle, touched)  # last used longer ago than the TTL
    assert store.cache.get(key) is None and key not in store.cache._entries


def test_the_cache_is_bounded(monkeypatch):
    cache = sessions._SessionCache()
    monkeypatch.setattr(sessions._SessionCache, "MAX_ENTRIES", 3)
    for n in range(5):
        cache.put(f"k{n}", sessions.GatewaySession(f"s{n}", PROJECT, 1, "2025-11-25"))
    assert cache.get("k0") is None and cache.get("k1") is None
    assert cache.get("k4") is not None


@pytest.mark.skipif(not redis_clients.enabled(), reason="needs REDIS_URL (CI's second run)")
def test_redis_lookup_refreshes_the_ttl_in_one_script():
    import asyncio

    async def scenario() -> None:
        store = sessions.RedisSessions()
        session = await store.create(PROJECT, 5, "2025-11-25")
        key = store._key(session.id)
        client = redis_clients.lean_client()
        await client.execute("EXPIRE", key, 5)
        found = await store.get(session.id)
        assert found is not None and found.token_id == 5 and found.protocol_version == "2025-11-25"
        assert await client.execute("TTL", key) > 5  # refreshed to the session TTL
        await store.save_upstream(session.id, {"3": "abc"})
        assert (await store.get(session.id)).upstream == {"3": "abc"}
        await store.delete(session.id)
        assert await store.get(session.id) is None
        assert await client.execute("EXISTS", key) == 0  # a miss does not create the key
        await redis_clients.close_async_client()

    asyncio.run(scenario())
