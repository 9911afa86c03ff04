"""Public-route token authentication: every refusal has its own code; warm requests hit no database."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from gateways.common import db
from projects import services
from projects.models import ApiToken
from tests.helpers import orm

pytestmark = pytest.mark.django_db(transaction=True)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def code(response) -> str:
    return response.json()["error"]["code"]


async def test_missing_and_malformed_tokens(gateway, project):
    r = await gateway.get(f"/api/{project.uuid}/info")
    assert r.status_code == 401 and code(r) == "missing_token"
    assert "Bearer" in r.headers["www-authenticate"]
    r = await gateway.get(f"/api/{project.uuid}/info", headers=bearer("pg_live_nonsense"))
    assert r.status_code == 401 and code(r) == "invalid_token"


async def test_well_formed_but_unknown_token_is_invalid(gateway, project):
    from projects import tokens

    unknown = tokens.generate("dev").plaintext
    r = await gateway.get(f"/api/{project.uuid}/info", headers=bearer(unknown))
    assert r.status_code == 401 and code(r) == "invalid_token"


async def test_bearer_and_x_api_key_both_work(gateway, project, amake_token):
    _, plaintext = await amake_token(project)
    r = await gateway.get(f"/api/{project.uuid}/info", headers=bearer(plaintext))
    assert r.status_code == 200, r.text
    r = await gateway.get(f"/api/{project.uuid}/info", headers={"X-API-Key": plaintext})
    assert r.status_code == 200


async def test_scope_and_project_checks(gateway, amake_project, amake_token):
    mine, other = await amake_project("Mine project"), await amake_project("Other project")
    _, proxy_only = await amake_token(mine, scopes=["proxy"])
    r = await gateway.get(f"/api/{mine.uuid}/info", headers=bearer(proxy_only))
    assert r.status_code == 403 and code(r) == "insufficient_scope"
    _, others = await amake_token(other, scopes=["admin"])
    r = await gateway.get(f"/api/{mine.uuid}/info", headers=bearer(others))
    assert r.status_code == 403 and code(r) == "wrong_project"


async def test_inactive_project_refused_then_reactivated(gateway, project, amake_token):
    _, plaintext = await amake_token(project)
    url = f"/api/{project.uuid}/info"
    assert (await gateway.get(url, headers=bearer(plaintext))).status_code == 200
    await orm(services.set_active)(project, False)
    r = await gateway.get(url, headers=bearer(plaintext))
    assert r.status_code == 403 and code(r) == "project_inactive"
    await orm(services.set_active)(project, True)
    assert (await gateway.get(url, headers=bearer(plaintext))).status_code == 200


async def test_revoked_token_refused_at_once(gateway, project, amake_token):
    _, plaintext = await amake_token(project)
    url = f"/api/{project.uuid}/info"
    assert (await gateway.get(url, headers=bearer(plaintext))).status_code == 200  # now cached
    revoked = await orm(services.revoke_all_tokens)(project)
    assert revoked == 1
    r = await gateway.get(url, headers=bearer(plaintext))
    assert r.status_code == 401 and code(r) == "token_revoked"


async def test_expired_token(gateway, project, amake_token):
    token, plaintext = await amake_token(project)
    past = timezone.now() - datetime.timedelta(seconds=1)
    await orm(ApiToken.objects.filter(pk=token.pk).update)(expires_at=past)
    r = await gateway.get(f"/api/{project.uuid}/info", headers=bearer(plaintext))
    assert r.status_code == 401 and code(r) == "token_expired"


async def test_request_cap(gateway, project, amake_token):
    _, plaintext = await amake_token(project, max_requests=2)
    url = f"/api/{project.uuid}/info"
    assert (await gateway.get(url, headers=bearer(plaintext))).status_code == 200
    assert (await gateway.get(url, headers=bearer(plaintext))).status_code == 200
    r = await gateway.get(url, headers=bearer(plaintext))
    assert r.status_code == 401 and code(r) == "token_request_cap_reached"


async def test_warm_request_makes_no_database_call(gateway, project, amake_token):
    """Token and project come from the config cache once warm (the endpoint body itself may query)."""
    _, plaintext = await amake_token(project)
    url = f"/api/{project.uuid}/nope"
    await gateway.get(f"/api/{project.uuid}/info", headers=bearer(plaintext))  # warm the caches
    before = db.counter.calls
    r = await gateway.get(url, headers=bearer(plaintext))
    assert r.status_code == 404
    assert db.counter.calls == before


async def test_last_used_is_stamped_in_batches(gateway_app, gateway, project, amake_token):
    token, plaintext = await amake_token(project)
    for _ in range(3):
        assert (await gateway.get(f"/api/{project.uuid}/info", headers=bearer(plaintext))).status_code == 200
    assert gateway_app.runtime.token_usage.wait_idle(5)
    row = await orm(ApiToken.objects.get)(pk=token.pk)
    assert row.request_count == 3
    assert row.last_used_at is not None
