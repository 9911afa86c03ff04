"""A mirror upstream for the HTTP proxy guardrail tests: `/mirror` answers the request's body with its
content type; `/answer` answers what the test queued with `answer(body, content_type)`. It records every
request body it received (`bodies`)."""

from __future__ import annotations

import asyncio
import threading

from aiohttp import web


class Mirror:
    def __init__(self) -> None:
        self.port = 0
        self.bodies: list[bytes] = []
        self.answers: list[tuple[bytes, str]] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="mirror", daemon=True)
        self._runner: web.AppRunner | None = None

    def __enter__(self) -> Mirror:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)  # type: ignore[union-attr]
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def answer(self, body: bytes | str, content_type: str = "text/plain") -> None:
        self.answers.append((body.encode() if isinstance(body, str) else body, content_type))

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/mirror", self._mirror)
        app.router.add_route("*", "/answer", self._answer)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def _mirror(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.bodies.append(body)
        return web.Response(body=body, headers={"Content-Type": request.headers.get("Content-Type", "")})

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        self.bodies.append(await request.read())
        body, content_type = self.answers.pop(0) if self.answers else (b"", "text/plain")
        if request.query.get("chunked") == "1":  # arrives in pieces, after the head
            response = web.StreamResponse(headers={"Content-Type": content_type})
            response.enable_chunked_encoding()
            await response.prepare(request)
            for i in range(0, len(body), 7):
                await response.write(body[i : i + 7])
                await asyncio.sleep(0)
            await response.write_eof()
            return response
        return web.Response(body=body, headers={"Content-Type": content_type})
