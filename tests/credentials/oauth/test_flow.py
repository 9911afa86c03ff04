"""The authorization-code flow through the real Django views and a real local provider, and its failures."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.core import signing
from django.db import connection as db_connection
from django.test import Client

from audit.models import AuditLog
from credentials.models import OAuthConnection
from credentials.oauth import flow
from tests.credentials.oauth.conftest import api_url, connect, follow_provider
from tests.credentials.oauth.provider import CLIENT_SECRET

pytestmark = pytest.mark.django_db(transaction=True)


def failures(conn: OAuthConnection | None = None) -> list[str]:
    rows = AuditLog.objects.filter(action="oauth.callback_failed")
    if conn is not None:
        rows = rows.filter(object_id=str(conn.pk))
    return [row.extra["reason"] for row in rows.order_by("id")]


def assert_nothing_stored(conn: OAuthConnection) -> None:
    conn.refresh_from_db()
    assert conn.status == "disconnected"
    assert conn.access_token == "" and conn.refresh_token == ""


def test_full_flow_stores_encrypted_tokens_and_audits(browser, make_connection, provider):
    conn = make_connection("custom")
    page = connect(browser, conn)
    assert page.status_code == 200, page.content
    assert b"Connected" in page.content and page["Referrer-Policy"] == "no-referrer"
    conn.refresh_from_db()
    assert conn.status == "connected"
    assert conn.access_token == provider.issued[-1]
    assert conn.refresh_token.startswith("rt-custom-")
    assert conn.expires_at is not None and conn.last_refreshed_at is not None
    assert conn.scopes_granted == ["openid", "email"]
    # PKCE S256 with the verifier from the server side; client_secret_basic as configured.
    token_call = provider.requests[-1]
    assert token_call["auth"] == "basic" and token_call["data"]["code_verifier"]
    assert "client_secret" not in token_call["data"]
    assert AuditLog.objects.filter(action="oauth.connected", object_id=str(conn.pk)).count() == 1
    # Encrypted at rest: the raw row holds neither token.
    with db_connection.cursor() as cursor:
        cursor.execute(
            "SELECT access_token, refresh_token FROM credentials_oauthconnection WHERE id = %s", [conn.pk]
        )
        raw = " ".join(cursor.fetchone())
    assert conn.access_token not in raw and conn.refresh_token not in raw
    # The API never shows the secret or a token.
    body = browser.get(api_url(conn)).content.decode()
    for secret in (CLIENT_SECRET, conn.access_token, conn.refresh_token):
        assert secret not in body


def test_authorize_url_carries_signed_state_and_pkce_challenge_not_verifier(
    browser, make_connection, provider
):
    conn = make_connection("custom", scopes=["read", "write"])
    url = browser.post(api_url(conn, "authorize"), content_type="application/json").json()["authorize_url"]
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert query["response_type"] == "code" and query["code_challenge_method"] == "S256"
    assert query["scope"] == "read write" and query["redirect_uri"] == "http://testserver/oauth/callback"
    assert "code_verifier" not in url
    state = signing.loads(query["state"], salt=flow.STATE_SALT)
    assert state["c"] == conn.pk


def test_admin_connect_button_runs_the_flow(browser, make_connection, provider):
    conn = make_connection("github")
    change = browser.get(f"/admin/credentials/oauthconnection/{conn.pk}/change/")
    assert change.status_code == 200 and b"Connect" in change.content
    assert CLIENT_SECRET.encode() not in change.content
    start = browser.get(f"/admin/credentials/oauthconnection/{conn.pk}/connect/")
    assert start.status_code == 302
    page = follow_provider(browser, start["Location"])
    assert page.status_code == 200
    conn.refresh_from_db()
    assert conn.status == "connected"
    change = browser.get(f"/admin/credentials/oauthconnection/{conn.pk}/change/").content
    assert conn.access_token.encode() not in change and conn.refresh_token.encode() not in change
    assert b"Refresh now" in change and b"Disconnect" in change


def test_forged_state_is_refused(browser, make_connection, provider):
    conn = make_connection("custom")
    page = browser.get("/oauth/callback?code=abc&state=forged")
    assert page.status_code == 400 and b"invalid_state" in page.content
    assert failures() == ["invalid_state"]
    assert_nothing_stored(conn)


def test_replayed_state_is_refused(browser, make_connection, provider):
    conn = make_connection("custom")
    url = browser.post(api_url(conn, "authorize"), content_type="application/json").json()["authorize_url"]
    answer = httpx.get(url, follow_redirects=False)
    back = urlsplit(answer.headers["location"])
    assert browser.get(f"{back.path}?{back.query}").status_code == 200
    second = browser.get(f"{back.path}?{back.query}")
    assert second.status_code == 400 and b"replayed_state" in second.content
    assert failures(conn) == ["replayed_state"]


def test_expired_state_is_refused(browser, make_connection, provider, monkeypatch):
    conn = make_connection("custom")
    url = browser.post(api_url(conn, "authorize"), content_type="application/json").json()["authorize_url"]
    back = urlsplit(httpx.get(url, follow_redirects=False).headers["location"])
    real = signing.time.time
    monkeypatch.setattr(signing.time, "time", lambda: real() + flow.STATE_MAX_AGE + 5)
    page = browser.get(f"{back.path}?{back.query}")
    assert page.status_code == 400 and b"expired_state" in page.content
    assert failures() == ["expired_state"]
    assert_nothing_stored(conn)


def test_provider_error_reply_is_shown_and_audited(browser, make_connection, provider):
    conn = make_connection("custom")
    provider.deny = True
    page = connect(browser, conn)
    assert page.status_code == 400 and b"access_denied" in page.content
    assert failures(conn) == ["provider_error"]
    assert AuditLog.objects.get(action="oauth.callback_failed").extra["error"] == "access_denied"
    assert_nothing_stored(conn)


def test_token_endpoint_failure_stores_nothing(browser, make_connection, provider):
    conn = make_connection("custom")
    provider.fail_token = True
    page = connect(browser, conn)
    assert page.status_code == 400 and b"token_error" in page.content
    assert failures(conn) == ["token_error"]
    assert_nothing_stored(conn)


def test_wrong_client_secret_is_a_token_failure(browser, make_connection, provider):
    conn = make_connection("custom", client_secret="not-the-secret")
    page = connect(browser, conn)
    assert page.status_code == 400 and b"invalid_client" in page.content
    assert_nothing_stored(conn)


def test_state_is_bound_to_the_user(browser, make_connection, provider, make_user):
    conn = make_connection("custom")
    url = browser.post(api_url(conn, "authorize"), content_type="application/json").json()["authorize_url"]
    back = urlsplit(httpx.get(url, follow_redirects=False).headers["location"])
    other = Client()
    other.force_login(make_user("mallory", conn.project, role="admin"))
    page = other.get(f"{back.path}?{back.query}")
    assert page.status_code == 400 and b"user_mismatch" in page.content
    assert_nothing_stored(conn)


def test_roles_admin_and_above_only(make_connection, provider, make_user):
    conn = make_connection("custom")
    dev = Client()
    dev.force_login(make_user("dev", conn.project, role="developer"))
    assert dev.post(api_url(conn, "authorize"), content_type="application/json").status_code == 403
    assert dev.post(api_url(conn, "refresh"), content_type="application/json").status_code == 403
    admin = Client()
    admin.force_login(make_user("adm", conn.project, role="admin"))
    assert admin.post(api_url(conn, "authorize"), content_type="application/json").status_code == 200
