"""An upstream HTTP/1.1 response as h1.Connection parses it: status, raw headers, and the body as it arrives."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING

from gateways.common.transport.upstream_errors import UpstreamError, UpstreamTimeout

if TYPE_CHECKING:
    from gateways.common.transport.h1 import Connection


def expire_waiter(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(UpstreamTimeout("upstream did not respond in time"))


class Response:
    """Status and raw headers of an answer; the body as it arrives. close() it whatever happens."""

    __slots__ = (
        "_buffer",
        "_buffered",
        "_conn",
        "_done",
        "_error",
        "_loop",
        "_read_timeout",
        "_waiter",
        "content_encoding",
        "head_only",
        "raw_headers",
        "status",
        "until_eof",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, read_timeout: float, head_only: bool) -> None:
        self._loop = loop
        self._read_timeout = read_timeout
        self.head_only = head_only
        self.status = 0  # 0 until the final (non-1xx) head is in
        self.raw_headers: tuple[tuple[bytes, bytes], ...] = ()
        self.content_encoding: bytes | None = None
        self.until_eof = False  # neither Content-Length nor chunked: the body ends with the connection
        self._conn: Connection | None = None  # set while the body is still coming over the wire
        self._buffer: deque[bytes] = deque()
        self._buffered = 0
        self._done = False
        self._error: UpstreamError | None = None
        self._waiter: asyncio.Future[None] | None = None

    # ---- called by the connection --------------------------------------------------------------

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _finish(self) -> None:
        self._done = True
        self._conn = None
        self._wake()

    def _fail(self, error: UpstreamError) -> None:
        if not self._done and self._error is None:
            self._error = error
            self._conn = None
            self._wake()

    # ---- called by the consumer ----------------------------------------------------------------

    async def _wait(self) -> None:
        """One wait for upstream bytes, bounded by the read timeout (each wait, not the whole body)."""
        loop = self._loop
        waiter = self._waiter = loop.create_future()
        timer = loop.call_later(self._read_timeout, expire_waiter, waiter)
        try:
            await waiter
        except UpstreamTimeout as exc:
            self._error = exc
            self.close()
            raise
        finally:
            timer.cancel()
            self._waiter = None

    async def wait_head(self) -> None:
        while not self.status:
            if self._error is not None:
                raise self._error
            await self._wait()

    async def next_chunk(self) -> bytes:
        """The body received since the last call (waiting for some), or b"" at its end."""
        while True:
            if self._buffer:
                chunk = self._take()
                conn = self._conn
                if conn is not None and conn.reading_paused:  # the consumer caught up: read on
                    conn.reading_paused = False
                    conn.transport.resume_reading()  # type: ignore[union-attr]  # a parsing connection has its transport
                return chunk
            if self._error is not None:
                raise self._error
            if self._done:
                return b""
            await self._wait()

    def received_whole(self) -> bytes | None:
        """The whole body if all of it has arrived already (a small answer usually comes with its
        head), else None and nothing is consumed."""
        if not self._done or self._error is not None:
            return None
        return self._take()

    def _take(self) -> bytes:
        """Everything buffered so far, as one bytes object."""
        buffer = self._buffer
        body = buffer.popleft() if len(buffer) == 1 else b"".join(buffer)
        buffer.clear()
        self._buffered = 0
        return body

    def __aiter__(self) -> Response:
        return self

    async def __anext__(self) -> bytes:
        chunk = await self.next_chunk()
        if not chunk:
            raise StopAsyncIteration
        return chunk

    def close(self) -> None:
        """Release the response: a body still on the wire closes its connection (never reused)."""
        conn = self._conn
        self._conn = None
        self._done = True
        if conn is not None:
            conn.response = None
            conn.abort()
        self._wake()
