"""A mirror upstream for the HTTP proxy guardrail tests: `/mirror` answers the request's body with its
content type; `/answer` answers what the test queued with `answer(body, content_type)`. It records every
request body it received (`bodies`)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from tests.threaded import AiohttpServer


class Mirror(AiohttpServer):
    thread_name = "mirror"
    handler_cancellation = False

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[bytes] = []
        self.answers: list[tuple[bytes, str]] = []

    def answer(self, body: bytes | str, content_type: str = "text/plain") -> None:
        self.answers.append((body.encode() if isinstance(body, str) else body, content_type))

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/mirror", self._mirror)
        app.router.add_route("*", "/answer", self._answer)

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
