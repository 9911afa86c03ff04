"""ASGI entry point: lifespan, the lean data plane for /api/ and health, Django for everything else.

Django has no ASGI lifespan and its request handler costs more than a whole proxied call should, so
this small callable answers `lifespan` itself (opening the shared HTTP client, starting the batched
writers, flushing them on shutdown), routes the data plane to the gateways' own async views, and
passes the control plane (admin, management API, OAuth) to Django with a bounded request body.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any, cast

import orjson
from django.core.asgi import get_asgi_application

from promptgate import access_log

access_log.install()  # before anything is served: no access log line carries a query string or header
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "promptgate.settings")
django_application = get_asgi_application()

from django.conf import settings  # noqa: E402  (Django must be set up first)

from gateways.common import health  # noqa: E402
from gateways.common.http import Receive, Scope, Send  # noqa: E402
from promptgate.dataplane import build_data_plane  # noqa: E402
from promptgate.errors import ErrorCode, error_body  # noqa: E402

logger = logging.getLogger(__name__)

HEALTH_PATHS = {"/healthz": health.healthz, "/readyz": health.readyz, "/metrics": health.metrics}


async def _send_json(send: Send, status: int, body: dict[str, object]) -> None:
    payload = orjson.dumps(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class PromptGateApplication:
    def __init__(self) -> None:
        self.data_plane = build_data_plane()
        self.runtime = self.data_plane.runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            path = scope["path"]
            if path.startswith("/api/"):
                await self.data_plane(scope, receive, send)
            elif path in HEALTH_PATHS:
                response = await HEALTH_PATHS[path](self.runtime)
                await response(send, receive)
            else:
                await self._django(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        else:  # websockets: nothing of ours speaks them
            await send({"type": "websocket.close", "code": 1000})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.runtime.startup()
                except Exception as exc:  # report to the server, which refuses to start
                    logger.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await self.runtime.shutdown()
                finally:
                    await send({"type": "lifespan.shutdown.complete"})
                return

    async def _django(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Django with a bounded body: it would otherwise spool any size before the view runs."""
        limit = settings.PROMPTGATE_MAX_BODY_BYTES
        too_large = error_body(ErrorCode.PAYLOAD_TOO_LARGE, f"Request body is larger than {limit} bytes")
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await _send_json(send, 413, too_large)
                return
        received = 0
        exceeded = False
        started = False

        async def bounded_receive() -> dict[str, object]:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    return {"type": "http.disconnect"}  # Django stops reading and answers nothing
            return message

        async def tracking_send(message: Mapping[str, Any]) -> None:  # what Django's handler sends
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(cast("dict[str, Any]", message))  # Django sends dicts; its stubs say Mapping

        await django_application(scope, bounded_receive, tracking_send)
        if exceeded and not started:
            await _send_json(send, 413, too_large)


application = PromptGateApplication()
