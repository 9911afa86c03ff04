"""The proxy inside the test process: DB calls, request logs, secrets, SSRF at request time, auth."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest

from audit.models import RequestLog
from gateways.common import db
from projects import services
from promptgate.asgi import PromptGateApplication
from tests.gateways.common.conftest import Lifespan
from tests.helpers import orm

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("_clean_network_state")]

SECRET = "inj-secret-value-8d1f"


@pytest.fixture
def loopback_allowed(settings):
    settings.PROMPTGATE_SSRF_ALLOW = ["127.0.0.0/8", "localhost"]
    return settings


@pytest.fixture
async def app(loopback_allowed) -> AsyncIterator[PromptGateApplication]:
    application = PromptGateApplication()
    async with Lifespan(application):
        yield application


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5555))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=30) as c:
        yield c


async def _rows(app: PromptGateApplication, project) -> list[RequestLog]:
    assert app.runtime.request_logs.wait_idle(5)
    return await orm(lambda: list(RequestLog.objects.filter(project_uuid=project.uuid).order_by("time")))()


async def test_warm_proxied_request_makes_no_database_call(aapi, client, upstream_server):
    await orm(aapi.endpoint)("svc", upstream_server.url("/echo"), rate_limit_per_minute=1000)
    assert (await client.get(aapi.path("svc", "/warm"), headers=aapi.auth)).status_code == 200
    before = db.counter.calls
    for _ in range(3):
        r = await client.get(aapi.path("svc", "/again"), headers=aapi.auth)
        assert r.status_code == 200
    assert db.counter.calls == before


async def test_one_request_log_per_call_with_its_details(app, aapi, client, upstream_server, caplog):
    caplog.set_level(logging.DEBUG)
    await orm(aapi.endpoint)(
        "svc",
        upstream_server.url("/echo"),
        inject_headers={"X-Upstream-Key": SECRET},
        allowed_methods=["GET"],
    )
    await orm(aapi.endpoint)("down", f"http://127.0.0.1:{upstream_server.refused_port}/")
    ok = await client.get(aapi.path("svc", "/x"), headers=aapi.auth)
    assert ok.status_code == 200 and SECRET in ok.text  # the upstream got it (and echoed it)
    assert (await client.post(aapi.path("svc", "/x"), headers=aapi.auth)).status_code == 405
    assert (await client.get(aapi.path("down"), headers=aapi.auth)).status_code == 502
    rows = await _rows(app, aapi.project)
    assert [(r.endpoint, r.status, r.error_code) for r in rows] == [
        ("svc", 200, ""),
        ("svc", 405, "method_not_allowed"),
        ("down", 502, "upstream_unreachable"),
    ]
    assert rows[0].gateway == "http" and rows[0].upstream_ms is not None and rows[0].upstream_ms > 0
    assert rows[0].bytes_out == len(ok.content)
    assert rows[0].request_id == ok.headers["x-request-id"]
    assert rows[0].token_prefix and aapi.token not in repr([r.__dict__ for r in rows])
    assert SECRET not in repr([r.__dict__ for r in rows])
    assert SECRET not in caplog.text and aapi.token not in caplog.text


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_ssrf_is_checked_at_request_time(loopback_allowed, aapi, client, upstream_server, host):
    """Saved while allowlisted, then the allowlist goes: warm caches and pooled connections don't help."""
    await orm(aapi.endpoint)("svc", upstream_server.url("/echo", host=host))
    assert (await client.get(aapi.path("svc"), headers=aapi.auth)).status_code == 200
    loopback_allowed.PROMPTGATE_SSRF_ALLOW = []
    r = await client.get(aapi.path("svc"), headers=aapi.auth)
    assert r.status_code == 502 and r.json()["error"]["code"] == "ssrf_blocked"
    assert "loopback" in r.json()["error"]["message"]


@pytest.mark.parametrize("host", ["2130706433", "0x7f.0.0.1", "0177.0.0.1", "127.1", "[::ffff:127.0.0.1]"])
async def test_numeric_host_forms_are_normalised_at_request_time(
    loopback_allowed, aapi, client, upstream_server, host
):
    """Rows the save-time validator would refuse (written some other way) still meet the guard."""
    await orm(aapi.endpoint)("num", f"http://{host}:{upstream_server.port}/echo", validate=False)
    assert (await client.get(aapi.path("num"), headers=aapi.auth)).status_code == 200  # it is loopback
    loopback_allowed.PROMPTGATE_SSRF_ALLOW = []
    r = await client.get(aapi.path("num"), headers=aapi.auth)
    assert (r.status_code, r.json()["error"]["code"]) == (502, "ssrf_blocked"), r.text


async def test_token_project_and_route_checks(aapi, client, upstream_server):
    await orm(aapi.endpoint)("svc", upstream_server.url("/echo"))
    path = aapi.path("svc")
    _, no_proxy = await orm(aapi.make_token)(aapi.project, scopes=["ai", "admin"])
    r = await client.get(path, headers={"Authorization": f"Bearer {no_proxy}"})
    assert (r.status_code, r.json()["error"]["code"]) == (403, "insufficient_scope")

    other = await orm(aapi.make_project)("Other project")
    _, foreign = await orm(aapi.make_token)(other, scopes=["proxy"])
    r = await client.get(path, headers={"Authorization": f"Bearer {foreign}"})
    assert (r.status_code, r.json()["error"]["code"]) == (403, "wrong_project")

    r = await client.get(path)
    assert (r.status_code, r.json()["error"]["code"]) == (401, "missing_token")

    ai = await orm(aapi.make_project)("AI project", "ai_gateway")
    _, ai_token = await orm(aapi.make_token)(ai, scopes=["proxy"])
    r = await client.get(f"/api/{ai.uuid}/proxy/svc", headers={"Authorization": f"Bearer {ai_token}"})
    assert (r.status_code, r.json()["error"]["code"]) == (404, "route_not_in_project_type")

    r = await client.get(aapi.path("nope"), headers=aapi.auth)
    assert (r.status_code, r.json()["error"]["code"]) == (404, "endpoint_not_found")

    await orm(services.set_active)(aapi.project, False)
    before = len(upstream_server.requests)
    r = await client.get(path, headers=aapi.auth)
    assert (r.status_code, r.json()["error"]["code"]) == (403, "project_inactive")
    assert len(upstream_server.requests) == before


async def test_disabled_endpoint_is_404(aapi, client, upstream_server):
    await orm(aapi.endpoint)("off", upstream_server.url("/echo"), enabled=False)
    r = await client.get(aapi.path("off"), headers=aapi.auth)
    assert (r.status_code, r.json()["error"]["code"]) == (404, "endpoint_not_found")
