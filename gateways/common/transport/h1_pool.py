"""A bounded keep-alive pool of h1 connections, dialled only to SSRF-checked addresses (TLS for https)."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Hashable

from gateways.common import ssrf
from gateways.common.transport.h1 import Connection, Response
from gateways.common.transport.h1_head import Body
from gateways.common.transport.upstream_errors import (
    StaleConnection,
    UpstreamTimeout,
    UpstreamUnreachable,
)

# (scheme, host, port, SSRF allowlist): a connection is reused only for the origin it was dialled for
# and under the allowlist its address was checked against (a changed allowlist dials and checks anew).
Key = tuple[str, str, int, tuple[str, ...]]


IDEMPOTENT = frozenset({b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"})


class Pool:
    """Keep-alive connections per origin, at most `limit` in all (0: no bound) and `limit_per_host` each."""

    def __init__(
        self,
        ssl_context: ssl.SSLContext,
        *,
        limit: int = 0,
        limit_per_host: int = 1024,
        keepalive: float = 30.0,
        response_class: type[Response] = Response,
    ) -> None:
        self.ssl_context = ssl_context
        self._limit = limit
        self._limit_per_host = limit_per_host
        self._keepalive = keepalive
        self._response_class = response_class
        self._conns: dict[Hashable, list[Connection]] = {}  # idle connections per key, the newest last
        self._acquired: set[Connection] = set()  # connections serving a request
        self._open: dict[Hashable, int] = {}  # per key: idle, busy and being dialled
        self._total = 0
        self._waiters: list[asyncio.Future[None]] = []  # requests waiting for room under the bounds
        self._sweeper: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    async def request(
        self,
        scheme: str,
        host: str,
        port: int,
        head: bytes,
        body: Body,
        *,
        read: float,
        connect: float,
        wait: float,
        head_only: bool = False,
        close: bool = False,
    ) -> Response:
        """Send `head` (+ `body`) to the origin and return once the response head is in."""
        if self._closed:
            raise RuntimeError("the upstream client is closed")
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        key: Key = (scheme, host, port, ssrf.allowlist())
        conn = self._take_idle(key)
        if conn is None:
            conn = await self._connect(key, connect, wait, fresh=False)
        try:
            return await self._exchange(loop, conn, head, body, read, head_only, close)
        except StaleConnection:
            if body is not None and not isinstance(body, bytes):
                raise  # a streamed body is partly consumed: it cannot be sent again
            if head.split(b" ", 1)[0] not in IDEMPOTENT:
                raise  # maybe processed: a chat completion sent twice is billed twice
        # The keep-alive race: a pooled connection died before any byte of an answer, nearly always the
        # upstream closing it while idle as our request went out. Once more, on a fresh connection, and
        # only for idempotent methods (as aiohttp and Go's net/http do). Connections the upstream closed
        # while idle are already dropped by `_take_idle`, which covers the common case for POST too.
        conn = await self._connect(key, connect, wait, fresh=True)
        return await self._exchange(loop, conn, head, body, read, head_only, close)

    async def _exchange(
        self,
        loop: asyncio.AbstractEventLoop,
        conn: Connection,
        head: bytes,
        body: Body,
        read: float,
        head_only: bool,
        close: bool,
    ) -> Response:
        response = self._response_class(loop, read, head_only)
        try:
            await conn.send(head, body, response, close)
        except BaseException:
            # Timeouts, errors and cancellation alike: a half-done exchange never carries another request.
            response.close()
            conn.abort()
            raise
        return response

    def _take_idle(self, key: Key) -> Connection | None:
        idle = self._conns.get(key)
        while idle:
            conn = idle.pop()
            if not conn.closed:
                self._acquired.add(conn)
                return conn
        return None

    # ---- new connections -----------------------------------------------------------------------

    async def _connect(self, key: Key, connect: float, wait: float, *, fresh: bool) -> Connection:
        try:
            # As aiohttp's `connect`: waiting for room, resolving and dialling together; each dial by `connect`.
            async with asyncio.timeout(connect + wait):
                conn = await self._slot(key, fresh)
                if conn is not None:
                    return conn  # another request left an idle connection while this one waited
                try:
                    _, host, port, _ = key
                    addresses = await ssrf.resolve_checked(host, port)
                    conn = await self._dial(key, addresses, connect)
                except BaseException:
                    self._free(key)
                    raise
        except TimeoutError as exc:
            raise UpstreamTimeout("connection to upstream timed out") from exc
        except socket.gaierror as exc:
            raise UpstreamUnreachable("upstream host name does not resolve") from exc
        self._acquired.add(conn)
        return conn

    async def _dial(self, key: Key, addresses: list[str], connect: float) -> Connection:
        """Connect to the first of the checked addresses that answers: never to a name, so never elsewhere."""
        scheme, host, port, _ = key
        loop = self._loop
        assert loop is not None
        tls = self.ssl_context if scheme == "https" else None
        error: BaseException | None = None
        for address in addresses:
            try:
                async with asyncio.timeout(connect):
                    _, conn = await loop.create_connection(
                        lambda: Connection(self, key, loop),
                        address,
                        port,
                        family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                        flags=socket.AI_NUMERICHOST,  # an address: no lookup between the check and the dial
                        ssl=tls,
                        # SNI and the certificate check use the URL's name, not the pinned address.
                        server_hostname=host.rstrip(".") if tls is not None else None,
                    )
            except (TimeoutError, OSError) as exc:  # ssl.SSLError (a bad certificate) is an OSError
                error = exc
                continue
            conn.counted = True
            return conn
        if isinstance(error, TimeoutError):
            raise UpstreamTimeout("connection to upstream timed out") from error
        if isinstance(error, ConnectionRefusedError):
            raise UpstreamUnreachable("upstream refused the connection") from error
        raise UpstreamUnreachable("upstream unreachable") from error

    async def _slot(self, key: Key, fresh: bool) -> Connection | None:
        """Room for one more connection (None), or an idle one that turned up while waiting for room."""
        while True:
            if self._closed:
                raise RuntimeError("the upstream client is closed")
            if not fresh:
                conn = self._take_idle(key)
                if conn is not None:
                    return conn
            count = self._open.get(key, 0)
            if count < self._limit_per_host and (not self._limit or self._total < self._limit):
                self._open[key] = count + 1
                self._total += 1
                return None
            if self._limit and self._total >= self._limit and self._close_oldest_idle():
                continue
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if not waiter.done():
                    waiter.cancel()

    def _free(self, key: Hashable) -> None:
        count = self._open.get(key, 0) - 1
        if count > 0:
            self._open[key] = count
        else:
            self._open.pop(key, None)
        self._total -= 1
        if self._waiters:
            self._wake()

    def _wake(self) -> None:
        # Every waiter looks again (a waiter for another origin may not use this room).
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _close_oldest_idle(self) -> bool:
        oldest: Connection | None = None
        for idle in self._conns.values():
            if idle and (oldest is None or idle[0].idle_since < oldest.idle_since):
                oldest = idle[0]
        if oldest is None:
            return False
        oldest.close()
        return True

    # ---- called by connections -----------------------------------------------------------------

    def release(self, conn: Connection) -> None:
        """A keep-alive connection whose response was read off the wire: idle until the next request."""
        self._acquired.discard(conn)
        if self._closed:
            conn.close()
            return
        loop = self._loop
        assert loop is not None
        conn.idle_since = loop.time()
        idle = self._conns.get(conn.key)
        if idle is None:
            idle = self._conns[conn.key] = []
        idle.append(conn)
        if self._waiters:
            self._wake()
        if self._sweeper is None:
            self._sweeper = loop.call_later(self._keepalive / 2, self._sweep)

    def forget(self, conn: Connection) -> None:
        """A closed connection: its slot is free."""
        if not conn.counted:
            return
        conn.counted = False
        self._acquired.discard(conn)
        idle = self._conns.get(conn.key)
        if idle and conn in idle:
            idle.remove(conn)
        self._free(conn.key)

    def _sweep(self) -> None:
        """Close connections idle for longer than the keep-alive time."""
        self._sweeper = None
        loop = self._loop
        assert loop is not None
        deadline = loop.time() - self._keepalive
        for key, idle in list(self._conns.items()):
            while idle and idle[0].idle_since <= deadline:
                idle.pop(0).close()
            if not idle:
                del self._conns[key]
        if self._conns and not self._closed:
            self._sweeper = loop.call_later(self._keepalive / 2, self._sweep)

    # ---- shutdown ------------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close every connection (requests in flight fail) and wait briefly until their sockets are shut."""
        if self._closed:
            return
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        conns = [conn for idle in self._conns.values() for conn in idle] + list(self._acquired)
        self._conns.clear()
        for conn in conns:
            conn.abort()
        self._wake()
        lost = [conn.lost for conn in conns if not conn.lost.done()]
        if lost:
            await asyncio.wait(lost, timeout=1.0)
