"""Two real gateway processes, many concurrent requests, one expiring token: exactly one refresh."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from credentials.models import OAuthConnection
from gateways.http.models import ApiEndpoint
from tests.credentials.oauth.conftest import connect, expire_soon
from tests.servers import GatewayProcess, running_gateways

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def two_gateways(django_db_setup) -> Iterator[list[GatewayProcess]]:
    with running_gateways(2) as processes:
        yield processes


def test_concurrent_requests_on_two_processes_refresh_once(
    browser, make_connection, make_token, provider, upstream, two_gateways
):
    conn = make_connection("custom")
    assert connect(browser, conn).status_code == 200
    ApiEndpoint.objects.create(
        project=conn.project,
        slug="svc",
        upstream_url=f"http://127.0.0.1:{upstream.port}/echo",
        oauth_connection=conn,
    )
    _, plaintext = make_token(conn.project, scopes=["proxy"])
    headers = {"Authorization": f"Bearer {plaintext}"}
    path = f"/api/{conn.project.uuid}/proxy/svc/warm"
    for gw in two_gateways:  # warm both processes with the still-fresh token
        assert httpx.get(gw.url(path), headers=headers, timeout=10).status_code == 200
    old_access, old_refresh = conn.access_token, conn.refresh_token
    expire_soon(conn, 30)
    for gw in two_gateways:  # both processes adopt the config change
        gw.sync_config()
    provider.refresh_delay = 0.3  # a wide window for racers
    provider.refresh_calls = 0

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=30) as client:
            calls = [
                client.get(
                    two_gateways[i % 2].url(f"/api/{conn.project.uuid}/proxy/svc/race-{i}"), headers=headers
                )
                for i in range(40)
            ]
            return await asyncio.gather(*calls)

    responses = asyncio.run(burst())
    assert [r.status_code for r in responses] == [200] * 40, [
        r.text for r in responses if r.status_code != 200
    ]
    assert provider.refresh_calls == 1
    fresh = OAuthConnection.objects.get(pk=conn.pk)
    assert fresh.status == "connected"
    assert fresh.access_token not in (old_access,) and fresh.refresh_token != old_refresh
    raced = [r for r in upstream.requests if "/race-" in r["path"]]
    assert len(raced) == 40
    assert {r["headers"]["authorization"] for r in raced} == {f"Bearer {fresh.access_token}"}
