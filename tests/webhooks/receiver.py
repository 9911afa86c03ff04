"""A real webhook receiver on 127.0.0.1: records every POST and answers from a script of responses."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from aiohttp import web

from tests.threaded import AiohttpServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    hold: threading.Event | None = None  # answer only once this is set (a slow receiver)


class Receiver(AiohttpServer):
    """`replies` is consumed in order; when empty, every POST gets `default`. `requests` holds what came."""

    thread_name = "webhook-receiver"
    path = "/hook"
    handler_cancellation = False

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[Received] = []
        self.replies: deque[Reply] = deque()
        self.default = Reply()
        self.arrived = threading.Condition(self._lock)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/{tail:.*}", self._receive)

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        with self.arrived:
            self.requests.append(
                Received(request.path_qs, {k.lower(): v for k, v in request.headers.items()}, body)
            )
            reply = self.replies.popleft() if self.replies else self.default
            self.arrived.notify_all()
        if reply.hold is not None:
            await asyncio.to_thread(reply.hold.wait, 30)
        response = web.Response(status=reply.status, headers=reply.headers, body=reply.body)
        response.force_close()  # one delivery per connection, as the HTTP/1.0 receiver it replaced
        return response

    def reset(self) -> None:
        with self.arrived:
            self.requests.clear()
            self.replies.clear()
            self.default = Reply()

    def wait_for_count(self, count: int, timeout: float = 20.0) -> list[Received]:
        """Block until `count` deliveries arrived; all of them so far."""
        deadline = time.monotonic() + timeout
        with self.arrived:
            while len(self.requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"receiver got {len(self.requests)} of {count} deliveries")
                self.arrived.wait(left)
            return list(self.requests)
