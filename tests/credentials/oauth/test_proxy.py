"""Injection through the real proxy to a real upstream, refresh on demand, lost grants, manual actions."""

from __future__ import annotations

import pytest

from audit.models import AuditLog
from credentials.models import OAuthConnection
from gateways.common import db
from gateways.http.models import ApiEndpoint
from tests.credentials.oauth.conftest import api_url, connect, expire_soon
from tests.helpers import orm

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def connected(browser, make_connection, provider, upstream):
    """A connected custom connection and an endpoint of the same project linked to it."""
    conn = make_connection("custom")
    assert connect(browser, conn).status_code == 200
    conn.refresh_from_db()
    ApiEndpoint.objects.create(
        project=conn.project,
        slug="svc",
        upstream_url=f"http://127.0.0.1:{upstream.port}/echo",
        oauth_connection=conn,
    )
    return conn


async def call(gateway, conn: OAuthConnection, plaintext: str, path: str = "x"):
    return await gateway.get(
        f"/api/{conn.project.uuid}/proxy/svc/{path}",
        headers={"Authorization": f"Bearer {plaintext}", "X-Probe": path},
    )


def seen(upstream, path: str) -> dict:
    return next(r for r in reversed(upstream.requests) if r["headers"].get("x-probe") == path)


async def test_bearer_injected_and_client_token_never_sent(gateway, connected, amake_token, upstream):
    _, plaintext = await amake_token(connected.project, scopes=["proxy"])
    r = await call(gateway, connected, plaintext, "inject")
    assert r.status_code == 200, r.text
    headers = seen(upstream, "inject")["headers"]
    assert headers["authorization"] == f"Bearer {connected.access_token}"
    assert plaintext not in str(upstream.requests[-1])
    # Warm: the next request costs no database call.
    before = db.counter.calls
    assert (await call(gateway, connected, plaintext, "warm")).status_code == 200
    assert db.counter.calls == before


async def test_expiring_token_is_refreshed_and_rotated(gateway, connected, amake_token, upstream, provider):
    await orm(expire_soon)(connected, 30)
    _, plaintext = await amake_token(connected.project, scopes=["proxy"])
    old_access, old_refresh = connected.access_token, connected.refresh_token
    r = await call(gateway, connected, plaintext, "refresh")
    assert r.status_code == 200, r.text
    fresh = await orm(OAuthConnection.objects.get)(pk=connected.pk)
    assert provider.refresh_calls == 1
    assert fresh.access_token != old_access and fresh.access_token == provider.issued[-1]
    assert fresh.refresh_token != old_refresh and provider.refresh_tokens[old_refresh] is False
    assert seen(upstream, "refresh")["headers"]["authorization"] == f"Bearer {fresh.access_token}"


async def test_revoked_grant_needs_reauth_and_answers_502(gateway, connected, amake_token, provider):
    provider.refresh_tokens[connected.refresh_token] = False  # revoked at the provider
    await orm(expire_soon)(connected, 10)
    _, plaintext = await amake_token(connected.project, scopes=["proxy"])
    r = await call(gateway, connected, plaintext, "revoked")
    assert r.status_code == 502
    assert r.json()["error"]["code"] == "oauth_reauth_required"
    fresh = await orm(OAuthConnection.objects.get)(pk=connected.pk)
    assert fresh.status == "needs_reauth" and fresh.access_token == "" and "invalid_grant" in fresh.last_error
    assert (
        await orm(AuditLog.objects.filter(action="oauth.reauth_required", object_id=str(fresh.pk)).count)()
        == 1
    )
    again = await call(gateway, connected, plaintext, "revoked-again")
    assert again.status_code == 502 and again.json()["error"]["code"] == "oauth_reauth_required"
    assert provider.refresh_calls == 1  # no retry storm once marked


async def test_connection_of_another_project_is_never_lent(
    gateway, connected, amake_token, amake_project, upstream
):
    other = await amake_project("Other api project")
    await orm(ApiEndpoint.objects.create)(
        project=other,
        slug="svc",
        upstream_url=f"http://127.0.0.1:{upstream.port}/echo",
        oauth_connection=connected,
    )
    _, plaintext = await amake_token(other, scopes=["proxy"])
    r = await gateway.get(f"/api/{other.uuid}/proxy/svc/x", headers={"Authorization": f"Bearer {plaintext}"})
    assert r.status_code == 502 and r.json()["error"]["code"] == "oauth_not_connected"


def test_manual_refresh_and_disconnect_revokes(browser, connected, provider):
    old = connected.refresh_token
    r = browser.post(api_url(connected, "refresh"), content_type="application/json")
    assert r.status_code == 200, r.content
    assert provider.refresh_calls == 1
    connected.refresh_from_db()
    assert connected.refresh_token != old and connected.last_refreshed_at is not None
    current = connected.refresh_token
    r = browser.post(api_url(connected, "disconnect"), content_type="application/json")
    assert r.status_code == 200 and r.json()["status"] == "disconnected"
    assert provider.revoked == [current]
    connected.refresh_from_db()
    assert connected.access_token == "" and connected.refresh_token == ""
    row = AuditLog.objects.get(action="oauth.disconnected")
    assert row.extra["revoked_at_provider"] is True
    assert browser.post(api_url(connected, "refresh"), content_type="application/json").status_code == 409


def test_admin_refresh_and_disconnect_buttons(browser, connected, provider):
    base = f"/admin/credentials/oauthconnection/{connected.pk}"
    assert browser.post(f"{base}/refresh/").status_code == 302
    assert provider.refresh_calls == 1
    assert browser.post(f"{base}/disconnect/").status_code == 302
    connected.refresh_from_db()
    assert connected.status == "disconnected" and provider.revoked


async def test_disconnected_connection_answers_502(gateway, connected, amake_token, browser):
    await orm(browser.post)(api_url(connected, "disconnect"), content_type="application/json")
    _, plaintext = await amake_token(connected.project, scopes=["proxy"])
    r = await call(gateway, connected, plaintext, "gone")
    assert r.status_code == 502 and r.json()["error"]["code"] == "oauth_not_connected"
