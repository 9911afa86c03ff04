"""Each preset's request and response shape against the local provider: authorize, token, refresh, revoke."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from credentials.oauth import protocol
from credentials.oauth.protocol import OAuthError
from tests.credentials.oauth.conftest import api_url, connect

pytestmark = pytest.mark.django_db(transaction=True)


def authorize_query(browser, conn) -> dict[str, str]:
    url = browser.post(api_url(conn, "authorize"), content_type="application/json").json()["authorize_url"]
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()} | {"_path": urlsplit(url).path}


def token_calls(provider, grant: str) -> list[dict]:
    return [r for r in provider.requests if r["kind"] == "token" and r["data"].get("grant_type") == grant]


def test_google(browser, make_connection, provider):
    conn = make_connection("google")
    query = authorize_query(browser, conn)
    assert query["_path"] == "/p/google/o/oauth2/v2/auth"
    assert query["access_type"] == "offline" and query["prompt"] == "consent"
    assert query["scope"] == "openid email profile" and query["code_challenge_method"] == "S256"
    assert connect(browser, conn).status_code == 200
    conn.refresh_from_db()
    first_refresh = conn.refresh_token
    call = token_calls(provider, "authorization_code")[-1]
    assert call["tail"] == "token" and call["auth"] == "post" and call["data"]["code_verifier"]
    # Google answers a refresh without a new refresh token: the old one is kept.
    assert browser.post(api_url(conn, "refresh"), content_type="application/json").status_code == 200
    conn.refresh_from_db()
    assert conn.refresh_token == first_refresh and conn.access_token == provider.issued[-1]
    browser.post(api_url(conn, "disconnect"), content_type="application/json")
    revoke = provider.requests[-1]
    assert revoke["tail"] == "revoke" and parse_qs(revoke["body"])["token_type_hint"] == ["refresh_token"]


@pytest.mark.parametrize("expiring", [True, False])
def test_github(browser, make_connection, provider, expiring):
    provider.github_expiring = expiring
    conn = make_connection("github")
    assert authorize_query(browser, conn)["_path"] == "/p/github/login/oauth/authorize"
    assert connect(browser, conn).status_code == 200
    call = token_calls(provider, "authorization_code")[-1]
    assert call["tail"] == "login/oauth/access_token" and call["headers"]["Accept"] == "application/json"
    conn.refresh_from_db()
    assert conn.scopes_granted == ["read:user", "repo"]  # GitHub's comma-separated scope
    if expiring:
        assert conn.expires_at is not None and conn.refresh_token
        assert conn.options["account"]["refresh_token_expires_in"] == 15_897_600
        assert browser.post(api_url(conn, "refresh"), content_type="application/json").status_code == 200
    else:
        assert conn.expires_at is None and conn.refresh_token == ""
        assert browser.post(api_url(conn, "refresh"), content_type="application/json").status_code == 409
    access = conn.access_token if not expiring else provider.issued[-1]
    browser.post(api_url(conn, "disconnect"), content_type="application/json")
    revoke = provider.requests[-1]
    assert revoke["method"] == "DELETE" and revoke["tail"] == f"applications/{conn.client_id}/grant"
    assert revoke["headers"]["Authorization"].startswith("Basic ")
    assert json.loads(revoke["body"]) == {"access_token": access}


def test_github_error_in_a_200_answer():
    with pytest.raises(OAuthError) as exc:
        protocol.parse_token_response("github", 200, b'{"error": "bad_refresh_token"}', "application/json")
    assert exc.value.kind == "grant_gone"


def test_slack(browser, make_connection, provider):
    conn = make_connection("slack")
    query = authorize_query(browser, conn)
    assert query["_path"] == "/p/slack/oauth/v2/authorize" and query["scope"] == "channels:read,chat:write"
    assert "code_challenge" not in query
    assert connect(browser, conn).status_code == 200
    assert token_calls(provider, "authorization_code")[-1]["tail"] == "api/oauth.v2.access"
    conn.refresh_from_db()
    assert conn.access_token == provider.issued[-1] and conn.token_type == "bot"  # the bot token, not xoxp
    assert conn.options["account"] == {
        "team_id": "T1",
        "team_name": "Acme",
        "authed_user_id": "U1",
        "bot_user_id": "B1",
    }
    assert browser.post(api_url(conn, "refresh"), content_type="application/json").status_code == 200
    access = provider.issued[-1]
    browser.post(api_url(conn, "disconnect"), content_type="application/json")
    revoke = provider.requests[-1]
    assert revoke["tail"] == "api/auth.revoke" and revoke["headers"]["Authorization"] == f"Bearer {access}"


def test_slack_ok_false_is_an_error():
    with pytest.raises(OAuthError) as exc:
        protocol.parse_token_response(
            "slack", 200, b'{"ok": false, "error": "invalid_code"}', "application/json"
        )
    assert exc.value.code == "invalid_code"
    user_only = b'{"ok": true, "authed_user": {"id": "U1", "access_token": "xoxp-1", "scope": "a,b"}}'
    tokens = protocol.parse_token_response("slack", 200, user_only, "application/json")
    assert tokens.access_token == "xoxp-1" and tokens.scopes == ["a", "b"]


def test_microsoft_tenant_and_offline_access(browser, make_connection, provider):
    conn = make_connection("microsoft", options={"tenant": "contoso.onmicrosoft.com"}, scopes=["Mail.Read"])
    query = authorize_query(browser, conn)
    assert query["_path"] == "/p/microsoft/contoso.onmicrosoft.com/oauth2/v2.0/authorize"
    assert query["scope"] == "Mail.Read offline_access"
    assert connect(browser, conn).status_code == 200
    assert (
        token_calls(provider, "authorization_code")[-1]["tail"] == "contoso.onmicrosoft.com/oauth2/v2.0/token"
    )
    assert browser.post(api_url(conn, "refresh"), content_type="application/json").status_code == 200
    conn.refresh_from_db()
    assert conn.revoke_url == ""
    browser.post(api_url(conn, "disconnect"), content_type="application/json")
    assert provider.requests[-1]["kind"] == "token"  # no revocation endpoint to call


def test_microsoft_tenant_is_validated(browser, make_connection, provider, project):
    r = browser.post(
        f"/manage/api/v1/projects/{project.uuid}/oauth-connections/",
        {
            "name": "ms",
            "provider": "microsoft",
            "client_id": "c",
            "client_secret": "s",
            "options": {"tenant": "a/b"},
        },
        content_type="application/json",
    )
    assert r.status_code == 400 and "options" in r.json()["error"]["fields"]


def test_notion_basic_auth_json_body_no_refresh(browser, make_connection, provider):
    conn = make_connection("notion")
    query = authorize_query(browser, conn)
    assert query["_path"] == "/p/notion/v1/oauth/authorize" and query["owner"] == "user"
    assert connect(browser, conn).status_code == 200
    call = token_calls(provider, "authorization_code")[-1]
    assert call["auth"] == "basic" and call["content_type"] == "application/json"
    assert "client_secret" not in call["data"]
    conn.refresh_from_db()
    assert conn.refresh_token == "" and conn.expires_at is None
    assert conn.options["account"] == {"workspace_id": "ws-1", "workspace_name": "Acme", "bot_id": "bot-1"}


def test_discord(browser, make_connection, provider):
    conn = make_connection("discord")
    query = authorize_query(browser, conn)
    assert query["_path"] == "/p/discord/oauth2/authorize" and query["scope"] == "identify"
    assert connect(browser, conn).status_code == 200
    assert token_calls(provider, "authorization_code")[-1]["tail"] == "api/oauth2/token"
    assert browser.post(api_url(conn, "refresh"), content_type="application/json").status_code == 200
    browser.post(api_url(conn, "disconnect"), content_type="application/json")
    assert provider.requests[-1]["tail"] == "api/oauth2/token/revoke"


def test_custom_post_auth_and_ssrf_checked_urls(browser, make_connection, provider, project, settings):
    conn = make_connection("custom", auth_method="client_secret_post", use_pkce=False)
    query = authorize_query(browser, conn)
    assert "code_challenge" not in query
    assert connect(browser, conn).status_code == 200
    call = token_calls(provider, "authorization_code")[-1]
    assert call["auth"] == "post" and "code_verifier" not in call["data"]
    settings.PROMPTGATE_SSRF_ALLOW = []
    r = browser.post(
        f"/manage/api/v1/projects/{project.uuid}/oauth-connections/",
        {
            "name": "internal",
            "provider": "custom",
            "client_id": "c",
            "client_secret": "s",
            "authorize_url": "https://example.com/authorize",
            "token_url": "http://169.254.169.254/token",
            "auth_method": "client_secret_post",
        },
        content_type="application/json",
    )
    assert r.status_code == 400 and "token_url" in r.json()["error"]["fields"]


def test_preset_urls_are_not_caller_controlled(browser, provider, project):
    r = browser.post(
        f"/manage/api/v1/projects/{project.uuid}/oauth-connections/",
        {
            "name": "gh",
            "provider": "github",
            "client_id": "c",
            "client_secret": "s",
            "token_url": "https://evil.example/token",
        },
        content_type="application/json",
    )
    assert r.status_code == 201, r.content
    assert r.json()["token_url"] == f"{provider.base('github')}/login/oauth/access_token"
    assert "client_secret" not in r.json()
