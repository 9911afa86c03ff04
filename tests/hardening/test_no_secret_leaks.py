"""No plaintext secret reaches any table or any log line: dump them all after exercising the flows.

To cover a new kind of secret, add a producer to SECRET_PRODUCERS: a function that creates the
secret through the product's own flows (create, update, revoke...) and returns its plaintext forms.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, models
from django.test import Client
from oauth2_provider.models import Application

from audit import context
from projects import services, tokens
from projects.models import Project
from tests.gateways.ai.providers.leaks import provider_credential_keys

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass
class Env:
    project: Project
    admin: Any
    probe_model: type[models.Model]


def api_tokens(env: Env) -> list[str]:
    """Tokens issued, listed, revoked one by one and in bulk, in dev (pg_test_) and prod (pg_live_)."""
    prod = services.create_project(name="Leak prod", project_type="ai_gateway", env="prod")
    secrets = []
    with context.bind(actor=context.actor_for_user(env.admin), ip="192.0.2.1", request_id="leak-test-1"):
        for project in (env.project, prod):
            _kept, plain_kept = services.issue_token(project, name="kept", scopes=["ai", "admin"])
            revoked, plain_revoked = services.issue_token(project, name="revoked", scopes=["proxy"])
            services.revoke_token(revoked)
            services.update_project(project, {"description": "rotated tokens"})
            secrets += [plain_kept, plain_revoked]
        services.revoke_all_tokens(prod)
    # The random body alone would be a leak too (say, a prefix stripped before storing).
    return secrets + [s[len(tokens.PREFIXES[0]) :] for s in secrets]


def user_passwords(env: Env) -> list[str]:
    """A staff user's password through user creation, an admin login, a failed login and a change."""
    password, wrong, changed = "Correct-Horse-Battery-42", "Wrong-Horse-Battery-43", "New-Horse-Battery-44"
    user = get_user_model().objects.create_user("leaky", "leaky@example.com", password, is_staff=True)
    client = Client()
    assert client.post("/admin/login/", {"username": "leaky", "password": password}).status_code == 302
    assert Client().post("/admin/login/", {"username": "leaky", "password": wrong}).status_code == 200
    user.set_password(changed)
    user.save()
    return [password, wrong, changed]


def api_client_secrets(env: Env) -> list[str]:
    """A management-API client secret (django-oauth-toolkit stores it hashed)."""
    secret = "client-secret-Xq7Lm2Pz9Rt4"
    app = Application.objects.create(
        name="leak-client",
        user=env.admin,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        client_secret=secret,
    )
    app.name = "leak-client-renamed"
    app.save()
    return [secret]


def encrypted_field_values(env: Env) -> list[str]:
    """Values of an EncryptedTextField (the field every product secret is stored in), created and updated."""
    first, second = "sk-probe-first-7f3a9c", "sk-probe-second-1b2e8d"
    obj = env.probe_model.objects.create(name="leak", secret=first)
    obj.secret = second
    obj.other = first
    obj.save()
    return [first, second]


def oauth_connection_secrets(env: Env) -> list[str]:
    """An OAuth client secret and the access/refresh tokens of a full flow, a refresh and a disconnect."""
    from urllib.parse import urlsplit

    import httpx
    from django.test import override_settings

    from credentials.models import OAuthConnection
    from credentials.oauth import services as oauth_services
    from tests.credentials.oauth.provider import CLIENT_ID, CLIENT_SECRET, OAuthProvider

    provider = OAuthProvider().start()
    try:
        with override_settings(PROMPTGATE_SSRF_ALLOW=["127.0.0.0/8"]):
            base = provider.base("custom")
            conn = OAuthConnection(
                project=env.project,
                name="leak-oauth",
                provider="custom",
                client_id=CLIENT_ID,
                client_secret=CLIENT_SECRET,
                authorize_url=f"{base}/authorize",
                token_url=f"{base}/token",
                revoke_url=f"{base}/revoke",
                auth_method="client_secret_post",
            )
            oauth_services.prepare(conn)
            conn.save()
            client = Client()
            client.force_login(env.admin)
            api = f"/manage/api/v1/projects/{env.project.uuid}/oauth-connections/{conn.pk}/"
            url = client.post(f"{api}authorize/", content_type="application/json").json()["authorize_url"]
            back = urlsplit(httpx.get(url, follow_redirects=False).headers["location"])
            assert client.get(f"{back.path}?{back.query}").status_code == 200
            assert client.post(f"{api}refresh/", content_type="application/json").status_code == 200
            assert client.post(f"{api}disconnect/", content_type="application/json").status_code == 200
    finally:
        provider.stop()
    return [CLIENT_SECRET, *provider.issued, *provider.refresh_tokens]


def api_endpoint_inject_headers(env: Env) -> list[str]:
    """Injected header values through the management API and the admin: create, replace, refused writes."""
    first, second, third, refused = (
        "inject-first-Kp3xW9qZ",
        "inject-second-Rt5vB2mN",
        "inject-third-Hy7cL4sD",
        "inject-refused-Qa6eJ1uT",
    )
    client = Client()
    client.force_login(env.admin)
    api = f"/manage/api/v1/projects/{env.project.uuid}/api-endpoints/"
    created = client.post(
        api,
        {"slug": "leak", "upstream_url": "https://93.184.216.34/", "inject_headers": {"X-Key": first}},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    endpoint = f"{api}leak/"
    replaced = client.patch(endpoint, {"inject_headers": {"X-Key": second}}, content_type="application/json")
    assert replaced.status_code == 200
    bad = client.patch(
        endpoint, {"inject_headers": {"X-Key": f"{refused}\r\nX-Evil: 1"}}, content_type="application/json"
    )
    assert bad.status_code == 400
    assert client.get(endpoint).status_code == 200
    pk = created.json()["id"]
    form = {
        "slug": "leak",
        "upstream_url": "https://93.184.216.34/",
        "allowed_methods": ["GET"],
        "timeout_seconds": "30",
        "inject_headers_json": f'{{"X-Key": "{third}"}}',
    }
    assert client.post(f"/admin/http/apiendpoint/{pk}/change/", form).status_code == 302
    blocked = {
        **form,
        "upstream_url": "http://127.0.0.1/",
        "inject_headers_json": f'{{"X-Key": "{refused}"}}',
    }
    assert client.post(f"/admin/http/apiendpoint/{pk}/change/", blocked).status_code == 200
    assert client.get(f"/admin/http/apiendpoint/{pk}/change/").status_code == 200
    return [first, second, third, refused]


SECRET_PRODUCERS: list[Callable[[Env], list[str]]] = [
    api_tokens,
    user_passwords,
    api_client_secrets,
    encrypted_field_values,
    oauth_connection_secrets,
    provider_credential_keys,
    api_endpoint_inject_headers,
]


def configured_keys() -> list[str]:
    return [settings.SECRET_KEY, *settings.PROMPTGATE_ENCRYPTION_KEYS, tokens._hmac_key().hex()]


def dump_tables() -> dict[str, str]:
    """Every table of the database, every row, as text."""
    qn = connection.ops.quote_name
    dumped = {}
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {qn(table)}")
            dumped[table] = "\n".join(" | ".join(map(as_text, row)) for row in cursor.fetchall())
    return dumped


def as_text(value: Any) -> str:
    if isinstance(value, bytes | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


@pytest.fixture
def all_logs_at_debug(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Capture every logger at DEBUG, SQL with its parameters included."""
    caplog.set_level(logging.DEBUG)
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger):
            caplog.set_level(logging.DEBUG, logger=name)
    previous = connection.force_debug_cursor
    connection.force_debug_cursor = True  # django.db.backends logs queries only in debug mode
    try:
        yield caplog
    finally:
        connection.force_debug_cursor = previous


def test_no_plaintext_secret_in_any_table_or_log(all_logs_at_debug, project, admin_user, probe_model):
    env = Env(project=project, admin=admin_user, probe_model=probe_model)
    secrets: dict[str, str] = {}
    for producer in SECRET_PRODUCERS:
        produced = producer(env)
        assert produced, f"{producer.__name__} produced no secret"
        secrets.update({value: producer.__name__ for value in produced})
    for key in configured_keys():
        secrets[key] = "configured key"

    tables = dump_tables()
    logs = all_logs_at_debug.text + "\n".join(str(r.__dict__) for r in all_logs_at_debug.records)

    # The net is real: the dump holds the token rows and the logs hold the SQL that wrote them.
    assert "pg_test_" in tables["projects_apitoken"]
    assert "projects_apitoken" in logs

    leaks = [
        f"{origin} secret {value[:6]}… in table {table}"
        for value, origin in secrets.items()
        for table, text in tables.items()
        if value in text
    ]
    leaks += [
        f"{origin} secret {value[:6]}… in the logs" for value, origin in secrets.items() if value in logs
    ]
    assert leaks == []
