"""HTTP/1.1 on asyncio.Protocol and httptools (llhttp): one upstream connection and the response it parses."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable
from typing import TYPE_CHECKING, Any

import httptools

from gateways.common.transport.h1_head import Body
from gateways.common.transport.h1_response import Response, expire_waiter
from gateways.common.transport.upstream_errors import StaleConnection, UpstreamError

if TYPE_CHECKING:
    from gateways.common.transport.h1_pool import Pool

__all__ = ["Connection", "Response"]

# A consumer that lags lets at most this much body (plus one socket read) wait in memory: past it the
# socket is not read, so TCP pushes back on the upstream until the consumer takes what is buffered.
HIGH_WATER = 256 * 1024
# The most a response head (with any 1xx before it) may take: aiohttp allowed 8 KiB per line.
MAX_HEAD = 256 * 1024
# Small bodies go out in one write with the head (one send(2)); larger ones are not copied.
_COALESCE = 16 * 1024


class Connection(asyncio.Protocol):
    """One upstream connection: one request at a time, its response parsed as the bytes arrive."""

    __slots__ = (
        "_body_task",
        "_chunked",
        "_close_after",
        "_drain",
        "_encoding",
        "_has_length",
        "_head_bytes",
        "_loop",
        "_raw",
        "_te",
        "_write_paused",
        "closed",
        "counted",
        "idle_since",
        "key",
        "lost",
        "parser",
        "pool",
        "reading_paused",
        "response",
        "reused",
        "transport",
    )

    def __init__(self, pool: Pool, key: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.pool = pool
        self.key = key
        self._loop = loop
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.response: Response | None = None
        self.closed = False
        self.counted = False  # set by the pool once dialled: it holds one of the pool's slots
        self.reused = False  # it served a response already (so it may have died idle in the pool)
        self.idle_since = 0.0
        self.reading_paused = False
        self.lost: asyncio.Future[None] = loop.create_future()
        self._body_task: asyncio.Task[None] | None = None
        self._drain: asyncio.Future[None] | None = None
        self._write_paused = False
        self._head_bytes = 0  # received before the response head was complete (0: not a byte yet)
        self._close_after = False
        self._raw: list[tuple[bytes, bytes]] = []
        self._has_length = self._chunked = self._te = False
        self._encoding: bytes | None = None

    # ---- the exchange --------------------------------------------------------------------------

    async def send(self, head: bytes, body: Body, response: Response, close: bool) -> None:
        """Write the request (a streamed body by a task of its own), then wait for the response head."""
        transport = self.transport
        if self.closed or transport is None or transport.is_closing():
            error = StaleConnection if self.reused else UpstreamError
            raise error("upstream closed the connection")
        self.response = response
        response._conn = self
        self._head_bytes = 0
        self._close_after = close
        self._raw = []
        self._has_length = self._chunked = self._te = False
        self._encoding = None
        if body is None:
            transport.write(head)
        elif isinstance(body, bytes):
            if len(body) <= _COALESCE:
                transport.write(head + body)
            else:
                transport.write(head)
                transport.write(body)
        else:
            transport.write(head)
            self._body_task = self._loop.create_task(self._send_body(body, response._read_timeout))
        await response.wait_head()

    async def _send_body(self, body: AsyncIterable[bytes], timeout: float) -> None:
        transport = self.transport
        assert transport is not None
        try:
            async for chunk in body:
                if self.closed:
                    return
                if chunk:
                    transport.writelines((b"%x\r\n" % len(chunk), chunk, b"\r\n"))
                    if self._write_paused:  # the upstream reads slower than we write: wait for it
                        waiter = self._drain = self._loop.create_future()
                        timer = self._loop.call_later(timeout, expire_waiter, waiter)
                        try:
                            await waiter
                        finally:
                            timer.cancel()
                            self._drain = None
            if not self.closed:
                transport.write(b"0\r\n\r\n")
            self._body_task = None
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001  # the caller's body failed, or the upstream went away
            self._body_task = None
            error = exc if isinstance(exc, UpstreamError) else UpstreamError("upstream request failed")
            error.__cause__ = exc if error is not exc else exc.__cause__
            response = self.response
            if response is not None:
                self.response = None
                response._fail(error)
            self.abort()

    def _end(self, keep_alive: bool) -> None:
        """The response is complete: the connection goes back to the pool, or is closed."""
        response = self.response
        self.response = None
        if response is not None:
            response._finish()
        if keep_alive and not self._close_after and self._body_task is None and not self.closed:
            if self.reading_paused:
                self.reading_paused = False
                self.transport.resume_reading()  # type: ignore[union-attr]  # set by connection_made before any byte arrives
            self.reused = True
            self.pool.release(self)
        else:
            self.close()

    def _broken(self, error: UpstreamError, cause: BaseException | None) -> None:
        error.__cause__ = cause
        response = self.response
        self.response = None
        if response is not None:
            response._fail(error)
        self.abort()

    # ---- closing -------------------------------------------------------------------------------

    def close(self) -> None:
        """Close after what is written (idle expiry, a response that ends the connection)."""
        if not self.closed:
            self.closed = True
            self._cancel_body()
            if self.transport is not None:
                self.transport.close()
            self.pool.forget(self)

    def abort(self) -> None:
        """Drop the connection now (a half-read or failed exchange: it never carries another request)."""
        if not self.closed:
            self.closed = True
            self._cancel_body()
            if self.transport is not None:
                self.transport.abort()
            self.pool.forget(self)

    def _cancel_body(self) -> None:
        task = self._body_task
        self._body_task = None
        if task is not None and not task.done():
            task.cancel()

    # ---- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # create_connection gives a Transport; Protocol says BaseTransport

    def data_received(self, data: bytes) -> None:
        response = self.response
        if response is None:
            # Bytes nobody asked for (on an idle connection, or past a response's end): never trust it.
            self.abort()
            return
        if not response.status:
            # llhttp bounds no header: an upstream sending headers forever must not grow our memory.
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD:
                self._broken(UpstreamError("upstream sent an invalid response"), None)
                return
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            self._broken(UpstreamError("upstream sent an invalid response"), exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)
        response = self.response
        self.response = None
        if response is not None:
            if exc is None and response.until_eof and response.status:
                response._finish()  # a close-delimited body ends with the connection
            elif self.reused and not self._head_bytes:
                response._fail(StaleConnection("upstream closed the connection"))
            else:
                error = UpstreamError("upstream closed the connection")
                error.__cause__ = exc
                response._fail(error)
        drain = self._drain
        if drain is not None and not drain.done():
            drain.set_exception(ConnectionResetError("upstream closed the connection"))
        if not self.closed:
            self.closed = True
            self._cancel_body()
            self.pool.forget(self)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        drain = self._drain
        if drain is not None and not drain.done():
            drain.set_result(None)

    # ---- httptools callbacks -------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self._raw.append((name, value))
        if len(name) in (14, 16, 17):  # the lengths of the three names the framing depends on
            lower = name.lower()
            if lower == b"content-length":
                self._has_length = True
            elif lower == b"transfer-encoding":
                self._te = True
                self._chunked = value.rstrip().lower().endswith(b"chunked")
            elif lower == b"content-encoding":
                self._encoding = value

    def on_headers_complete(self) -> None:
        response = self.response
        if response is None:
            raise UpstreamError("upstream sent an unexpected response")
        status = self.parser.get_status_code()
        if status < 200:
            if status == 101:  # we never ask to switch protocols
                raise UpstreamError("upstream switched protocols")
            # An interim 1xx answer is skipped, its headers with it.
            self._raw = []
            self._has_length = self._chunked = self._te = False
            self._encoding = None
            return
        response.raw_headers = tuple(self._raw)
        response.content_encoding = self._encoding
        response.status = status
        if response.head_only:
            # llhttp does not know the request was HEAD and would wait for Content-Length bytes that
            # never come: the response ends here, and the connection with it.
            self._end(False)
            return
        if status not in (204, 304) and not self._chunked and (self._te or not self._has_length):
            response.until_eof = True
        response._wake()

    def on_body(self, body: bytes) -> None:
        response = self.response
        if response is None:
            raise UpstreamError("upstream sent an unexpected body")
        response._buffer.append(body)
        response._buffered += len(body)
        if response._buffered > HIGH_WATER and not self.reading_paused:
            self.reading_paused = True
            self.transport.pause_reading()  # type: ignore[union-attr]  # set by connection_made before any byte arrives
        response._wake()

    def on_message_complete(self) -> None:
        if self.parser.get_status_code() >= 200 and self.response is not None:
            self._end(self.parser.should_keep_alive())
