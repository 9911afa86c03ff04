"""The one base of every upstream a test starts on 127.0.0.1: a server on an event loop in its own thread.

`ThreadedServer` is the plumbing, written once: a loop in a daemon thread, a free port (or the one it
had, so `restart()` keeps its address), `start()` that returns once the port listens, `stop()` that
closes and joins the thread, `url()`, `wait_for()` and a thread-safe record of requests (`record()`,
`requests`, `last()`, `reset()`). A fixture is then only its handler:

    class Hello(AiohttpServer):
        def routes(self, app: web.Application) -> None:
            app.router.add_get("/hello", self._hello)

        async def _hello(self, request: web.Request) -> web.Response:
            self.record(request.path)
            return web.Response(text="hi")

    with Hello() as server:
        httpx.get(server.url("/hello"))

`AiohttpServer` serves an aiohttp app (`routes(app)`); `AsgiServer` serves an ASGI app with uvicorn
(`asgi_app()`). Sync tests, async tests (on any loop) and helpers alike use them: nothing runs on the
caller's loop.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, Self

import uvicorn
from aiohttp import web


class ThreadedServer:
    """A server on 127.0.0.1 whose loop runs in a daemon thread; subclasses say how to serve and close."""

    thread_name = "test-upstream"
    path = "/"  # what `url()` addresses by default

    def __init__(self) -> None:
        self.port = 0  # 0 until the first start; kept afterwards, so a restart answers at the same URL
        self.requests: list[Any] = []  # what `record()` was given, in arrival order
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle --------------------------------------------------------------------------------
    def start(self) -> Self:
        """Serve from a fresh loop thread; returns once the port accepts connections."""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=self.thread_name, daemon=True)
        self._thread.start()
        self.port = self.call(self._serve(self.port))
        return self

    def stop(self) -> None:
        """Close the server, stop its loop and join its thread (a no-op when not running)."""
        if self._loop is None or self._thread is None:
            return
        try:
            self.call(self._close())
            self.call(_cancel_the_rest())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()
            self._loop = self._thread = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def call(self, coroutine: Coroutine[Any, Any, Any], timeout: float = 10.0) -> Any:
        """Run `coroutine` on the server's loop and wait for its result (from any other thread)."""
        assert self._loop is not None, "server not started"
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def call_soon(self, callback: Callable[..., Any], *args: Any) -> None:
        """Schedule `callback(*args)` on the server's loop (thread-safe, does not wait)."""
        assert self._loop is not None, "server not started"
        self._loop.call_soon_threadsafe(callback, *args)

    async def _serve(self, port: int) -> int:
        """Start listening on `port` (0: any free one) inside the server's loop; return the port."""
        raise NotImplementedError

    async def _close(self) -> None:
        raise NotImplementedError

    # --- what tests read --------------------------------------------------------------------------
    def url(self, path: str | None = None, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{self.path if path is None else path}"

    def record(self, item: Any) -> Any:
        with self._lock:
            self.requests.append(item)
        return item

    def last(self) -> Any:
        with self._lock:
            return self.requests[-1]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0) -> bool:
        """Poll `predicate()` until true or `timeout` seconds pass (sync; call via to_thread from async)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.02)
        return bool(predicate())


async def _cancel_the_rest() -> None:
    """Cancel what still runs on this loop and let it unwind, as `asyncio.run` does before it closes one."""
    rest = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in rest:
        task.cancel()
    await asyncio.gather(*rest, return_exceptions=True)
    await asyncio.get_running_loop().shutdown_asyncgens()


class AiohttpServer(ThreadedServer):
    """An aiohttp app; a subclass adds its routes in `routes(app)`."""

    client_max_size = 1024**2  # aiohttp's default request body cap
    # A handler whose client left is cancelled, as a real server would.
    handler_cancellation = True

    def __init__(self) -> None:
        super().__init__()
        self._runner: web.AppRunner | None = None

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def _serve(self, port: int) -> int:
        app = web.Application(client_max_size=self.client_max_size)
        self.routes(app)
        self._runner = web.AppRunner(
            app, access_log=None, shutdown_timeout=0.1, handler_cancellation=self.handler_cancellation
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port, reuse_address=True)
        await site.start()
        return int(self._runner.addresses[0][1])

    async def _close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def open_connections(self) -> int:
        """TCP connections this server holds open right now (keep-alive ones included)."""

        async def count() -> int:
            server = self._runner.server if self._runner is not None else None
            return len(server.connections) if server is not None else 0

        return int(self.call(count(), timeout=5))


class AsgiServer(ThreadedServer):
    """An ASGI app served by uvicorn (lifespan on); a subclass builds it in `asgi_app()`."""

    def __init__(self) -> None:
        super().__init__()
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    def asgi_app(self) -> Any:
        raise NotImplementedError

    async def _serve(self, port: int) -> int:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        config = uvicorn.Config(
            self.asgi_app(), log_level="error", lifespan="on", timeout_graceful_shutdown=5
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.get_running_loop().create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises what stopped it
                raise RuntimeError("uvicorn exited before it started")
            await asyncio.sleep(0.01)
        return int(sock.getsockname()[1])

    async def _close(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
            self._server = self._task = None
