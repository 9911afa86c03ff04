"""The pipelined hot-path Redis client: replies in order, scripts, errors, timeouts, cancellation."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest
import redis
import redis.exceptions
from django.conf import settings as django_settings

from gateways.common.transport.resp import Endpoint, PipelinedRedis, Script

needs_redis = pytest.mark.skipif(not django_settings.REDIS_URL, reason="REDIS_URL not set")


def key() -> str:
    return f"{django_settings.PROMPTGATE_REDIS_PREFIX}:resp-test:{secrets.token_hex(6)}"


@pytest.fixture
async def client() -> AsyncIterator[PipelinedRedis]:
    lean = PipelinedRedis(django_settings.REDIS_URL or "redis://127.0.0.1:6379/0")
    yield lean
    await lean.close()


def test_endpoint_from_url():
    assert Endpoint.from_url("redis://127.0.0.1:6379/0") == Endpoint()
    assert Endpoint.from_url("redis://app:p%40ss@cache.internal:6380/2") == Endpoint(
        host="cache.internal", port=6380, username="app", password="p@ss", db=2
    )
    assert Endpoint.from_url("rediss://:secret@cache:6390").tls
    assert Endpoint.from_url("rediss://:secret@cache:6390").password == "secret"
    assert Endpoint.from_url("unix:///run/redis.sock?db=4") == Endpoint(path="/run/redis.sock", db=4)
    with pytest.raises(ValueError, match="scheme"):
        Endpoint.from_url("http://127.0.0.1:6379")


@needs_redis
async def test_concurrent_commands_share_one_connection_and_get_their_own_replies(client):
    name = key()
    results = await asyncio.gather(*(client.execute("INCR", name) for _ in range(300)))
    assert sorted(results) == list(range(1, 301))
    assert await client.execute("GET", name) == b"300"
    assert await client.execute("DEL", name) == 1


@needs_redis
async def test_script_is_loaded_on_first_use_then_run_by_sha(client):
    # A script text no server has seen: the first run must fall back from EVALSHA to EVAL.
    script = Script(f"-- {secrets.token_hex(8)}\nreturn redis.call('INCRBY', KEYS[1], ARGV[1])")
    name = key()
    assert await client.execute("SCRIPT", "EXISTS", script.sha) == [0]
    assert await client.run(script, [name], [5]) == 5
    assert await client.execute("SCRIPT", "EXISTS", script.sha) == [1]
    assert await client.run(script, [name], [2]) == 7
    await client.execute("DEL", name)


@needs_redis
async def test_reply_errors_raise_redis_py_classes_and_the_connection_goes_on(client):
    name = key()
    await client.execute("SET", name, "not a number")
    with pytest.raises(redis.exceptions.ResponseError, match="not an integer"):
        await client.execute("INCR", name)
    assert await client.execute("GET", name) == b"not a number"
    await client.execute("DEL", name)


@needs_redis
async def test_database_number_in_the_url_is_selected():
    base = django_settings.REDIS_URL.rsplit("/", 1)[0]
    lean = PipelinedRedis(f"{base}/3")
    name = key()
    try:
        await lean.execute("SET", name, "in db 3")
        sync = redis.Redis.from_url(f"{base}/3")
        assert sync.get(name) == b"in db 3"
        assert redis.Redis.from_url(f"{base}/0").get(name) is None
        sync.delete(name)
        sync.close()
    finally:
        await lean.close()


async def test_connection_refused_is_a_connection_error():
    lean = PipelinedRedis("redis://127.0.0.1:1/0", connect_timeout=1)
    with pytest.raises(redis.exceptions.ConnectionError):
        await lean.execute("PING")
    await lean.close()


class ScriptedServer:
    """A fake Redis on 127.0.0.1 that echoes each command's last argument when `release` is set."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                count = int((await reader.readline())[1:])
                args = []
                for _ in range(count):
                    size = int((await reader.readline())[1:])
                    args.append((await reader.readexactly(size + 2))[:-2])
                await self.release.wait()
                writer.write(b"$%d\r\n%s\r\n" % (len(args[-1]), args[-1]))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            writer.close()

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()


async def test_a_cancelled_command_does_not_shift_the_replies_of_the_next():
    fake = ScriptedServer()
    port = await fake.start()
    lean = PipelinedRedis(f"redis://127.0.0.1:{port}/0")
    try:
        first = asyncio.create_task(lean.execute("ECHO", "first"))
        await asyncio.sleep(0.05)
        second = asyncio.create_task(lean.execute("ECHO", "second"))
        await asyncio.sleep(0.05)
        first.cancel()
        fake.release.set()
        assert await second == b"second"
        assert first.cancelled()
        assert await lean.execute("ECHO", "third") == b"third"
        assert fake.connections == 1
    finally:
        await lean.close()
        await fake.stop()


async def test_a_stuck_connection_times_out_everything_on_it_then_reconnects():
    fake = ScriptedServer()  # never released: it reads commands and answers none
    port = await fake.start()
    lean = PipelinedRedis(f"redis://127.0.0.1:{port}/0", timeout=0.3)
    try:
        calls = [asyncio.create_task(lean.execute("ECHO", str(i))) for i in range(3)]
        outcomes = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), timeout=5)
        assert all(isinstance(o, redis.exceptions.TimeoutError) for o in outcomes)
        fake.release.set()
        assert await lean.execute("ECHO", "after") == b"after"
        assert fake.connections == 2
    finally:
        await lean.close()
        await fake.stop()
