"""Fixtures of the OAuth tests: the local provider, connections, the browser flow, gateways, an upstream."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from django.test import Client
from django.utils import timezone

from credentials.models import OAuthConnection
from credentials.oauth import presets, services
from tests.credentials.oauth.provider import CLIENT_ID, CLIENT_SECRET, OAuthProvider
from tests.gateways.common.conftest import amake_project, amake_token, gateway, gateway_app  # noqa: F401
from tests.upstreams import UpstreamServer


@pytest.fixture(scope="session")
def oauth_provider_server() -> Iterator[OAuthProvider]:
    server = OAuthProvider().start()
    yield server
    server.stop()


@pytest.fixture
def provider(oauth_provider_server: OAuthProvider, settings: Any) -> OAuthProvider:
    """The provider, reset, with every preset pointed at it and loopback let past the SSRF guard."""
    p = oauth_provider_server
    p.requests.clear()
    p.issued.clear()
    p.revoked.clear()
    p.refresh_calls = 0
    p.expires_in, p.github_expiring, p.deny, p.fail_token, p.refresh_delay = 3600, True, False, False, 0.0
    settings.PROMPTGATE_OAUTH_PRESET_OVERRIDES = {key: p.base(key) for key in presets.PRESETS}
    settings.PROMPTGATE_SSRF_ALLOW = ["127.0.0.0/8"]
    return p


@pytest.fixture(scope="session")
def upstream() -> Iterator[UpstreamServer]:
    with UpstreamServer() as server:
        yield server


@pytest.fixture
def make_connection(provider: OAuthProvider, project: Any) -> Any:
    def make(kind: str = "custom", target: Any = None, **fields: Any) -> OAuthConnection:
        conn = OAuthConnection(
            project=target or project,
            name=fields.pop("name", f"{kind} connection"),
            provider=kind,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
        )
        if kind == presets.CUSTOM:
            base = provider.base("custom")
            conn.authorize_url, conn.token_url, conn.revoke_url = (
                f"{base}/authorize",
                f"{base}/token",
                f"{base}/revoke",
            )
            conn.auth_method = "client_secret_basic"
        for name, value in fields.items():
            setattr(conn, name, value)
        services.prepare(conn)
        conn.save()
        return conn

    return make


@pytest.fixture
def browser(admin_user: Any) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def api_url(conn: OAuthConnection, action: str = "") -> str:
    base = f"/manage/api/v1/projects/{conn.project.uuid}/oauth-connections/{conn.pk}/"
    return base + (f"{action}/" if action else "")


def follow_provider(browser: Client, authorize_url: str) -> Any:
    """The browser's trip: to the provider (auto-approves), then back to /oauth/callback."""
    answer = httpx.get(authorize_url, follow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["location"])
    assert back.path == "/oauth/callback"
    return browser.get(f"{back.path}?{back.query}")


def connect(browser: Client, conn: OAuthConnection) -> Any:
    response = browser.post(api_url(conn, "authorize"), content_type="application/json")
    assert response.status_code == 200, response.content
    return follow_provider(browser, response.json()["authorize_url"])


def expire_soon(conn: OAuthConnection, seconds: int = 30) -> None:
    conn.refresh_from_db()
    conn.expires_at = timezone.now() + datetime.timedelta(seconds=seconds)
    conn.save(update_fields=["expires_at"])
