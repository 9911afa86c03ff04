"""A client leaving mid-stream closes the upstream (real process, raw socket); a warm call touches no DB."""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest

from gateways.common import db
from tests.gateways.common.conftest import Lifespan
from tests.helpers import log_rows

pytestmark = pytest.mark.django_db(transaction=True)


def test_client_disconnect_mid_stream_closes_upstream(world, gateway_proc, mock_llm):
    body = json.dumps(
        {
            "model": "openai:gpt-4o-mini+endless",
            "messages": [{"role": "user", "content": "go"}],
            "stream": True,
        }
    )
    head = (
        f"POST /api/{world.uuid}/v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {world.token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    closed_before = mock_llm.streams_closed
    with socket.create_connection(("127.0.0.1", gateway_proc.port), timeout=10) as sock:
        sock.sendall(head.encode() + body.encode())
        received = b""
        while received.count(b"tick") < 3:
            received += sock.recv(4096)
        assert b"200 OK" in received.split(b"\r\n", 1)[0]
    # The gateway saw the disconnect and closed its upstream connection: the mock's stream ended.
    assert mock_llm.wait_for(lambda: mock_llm.streams_closed > closed_before, timeout=5)
    row = log_rows(world.project)[-1]
    assert row.status == 499 and row.provider == "openai" and row.tokens_out > 0


async def test_warm_chat_completion_makes_no_db_query(world, settings):
    from promptgate.asgi import PromptGateApplication

    settings.PROMPTGATE_SSRF_ALLOW = ["127.0.0.0/8"]
    app = PromptGateApplication()
    async with Lifespan(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5555))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:

            async def call(stream: bool) -> httpx.Response:
                return await client.post(
                    f"/api/{world.uuid}/v1/chat/completions",
                    headers={"Authorization": f"Bearer {world.token}"},
                    json={
                        "model": "openai:gpt-4o-mini",
                        "messages": [{"role": "user", "content": "x"}],
                        "stream": stream,
                    },
                )

            assert (await call(False)).status_code == 200  # cold: loads project, token, AI config, prices
            before = db.counter.calls
            for stream in (False, True):
                answer = await call(stream)
                assert answer.status_code == 200 and answer.headers["x-promptgate-provider"] == "openai"
            assert db.counter.calls == before
            models = await client.get(
                f"/api/{world.uuid}/v1/models", headers={"Authorization": f"Bearer {world.token}"}
            )
            assert models.status_code == 200 and db.counter.calls == before
        time.sleep(0)
