"""Control plane of AI endpoints: management API (endpoints, sessions), admin pages and the playground."""

from __future__ import annotations

import json

import pytest
from django.test import AsyncClient

from projects.models import Role
from tests.gateways.ai.endpoints.conftest import SUMMARY_SCHEMA, sse_events
from tests.projects.api.conftest import projects_url

pytestmark = pytest.mark.django_db(transaction=True)

VALID = {
    "slug": "summarise",
    "chain": [{"provider": "openai", "model": "gpt-4o-mini"}, {"template": "fast"}],
    "system_prompt": "You summarise.",
    "user_prompt": "Summarise {{ text }}",
    "variables": [{"name": "text", "type": "string", "required": True}],
    "output_schema": SUMMARY_SCHEMA,
    "sessions_enabled": True,
    "mcp_tool": True,
}


@pytest.fixture
def api(client_for, make_user, ai):
    def make(role: str):
        return client_for(make_user(f"user-{role}", ai.project, role))

    return make


def test_api_create_list_update_delete(api, ai):
    client = api(Role.ADMIN)
    url = projects_url(ai.project, "ai-endpoints/")
    created = client.post(url, VALID, format="json")
    assert created.status_code == 201, created.json()
    data = created.json()
    assert data["slug"] == "summarise" and data["output_schema"] == SUMMARY_SCHEMA
    assert data["session_history_limit"] == 20 and data["stream_allowed"] is True
    assert [row["slug"] for row in client.get(url).json()["results"]] == ["summarise"] or client.get(
        url
    ).json()
    detail = f"{url}{data['id']}/"
    changed = client.patch(detail, {"description": "Summaries", "enabled": False}, format="json")
    assert changed.status_code == 200 and changed.json()["enabled"] is False
    assert client.post(url, VALID, format="json").json()["error"]["fields"]["slug"]
    assert client.delete(detail).status_code == 204


def test_api_validation_lists_each_problem(api, ai):
    client = api(Role.ADMIN)
    url = projects_url(ai.project, "ai-endpoints/")
    bad = {
        **VALID,
        "chain": [{"provider": "nope", "model": "x"}, {"model": "only"}],
        "variables": [{"name": "1bad", "type": "date"}, {"name": "text", "type": "string", "extra": 1}],
        "output_schema": {"type": "objekt"},
        "user_prompt": "{{ text }} {{ missing }}",
        "surprise": True,
    }
    response = client.post(url, bad, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"surprise"}
    del bad["surprise"]
    fields = client.post(url, bad, format="json").json()["error"]["fields"]
    assert set(fields) == {"chain", "variables", "output_schema"}
    assert len(fields["chain"]) == 2 and len(fields["variables"]) == 3
    assert client.post(url, {**VALID, "slug": "has space"}, format="json").json()["error"]["fields"]["slug"]
    bad.update(variables=VALID["variables"], slug="ok", chain=VALID["chain"], output_schema=None)
    fields = client.post(url, bad, format="json").json()["error"]["fields"]
    assert fields == {"user_prompt": ["Undeclared variables: missing."]}


def test_api_roles_and_project_types(api, ai, make_project, client_for, admin_user):
    url = projects_url(ai.project, "ai-endpoints/")
    assert api(Role.VIEWER).get(url).status_code == 200
    assert api(Role.DEVELOPER).post(url, VALID, format="json").status_code == 403
    other = make_project("HTTP", project_type="api_gateway")
    response = client_for(admin_user).post(projects_url(other, "ai-endpoints/"), VALID, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "wrong_project_type"


def _session(ai, key: str = "conversation-1"):
    import datetime

    from gateways.ai.models import Session

    endpoint = ai.endpoint(sessions_enabled=True)
    now = datetime.datetime.now(datetime.UTC)
    Session.objects.bulk_create(
        [
            Session(
                endpoint=endpoint,
                key=key,
                messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
                created_at=now,
                updated_at=now,
                expires_at=now + datetime.timedelta(hours=1),
            )
        ]
    )
    return Session.objects.get(key=key)


def test_api_sessions_list_retrieve_delete(api, ai):
    session = _session(ai)
    url = projects_url(ai.project, "sessions/")
    assert api(Role.VIEWER).get(url).status_code == 403
    client = api(Role.DEVELOPER)
    listed = client.get(url, {"endpoint": "summarise"}).json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert [(r["session_id"], r["endpoint"], r["message_count"], r["expired"]) for r in rows] == [
        ("conversation-1", "summarise", 2, False)
    ]
    assert client.get(f"{url}{session.pk}/").json()["messages"][1]["content"] == "hello"
    assert client.delete(f"{url}{session.pk}/").status_code == 403
    assert api(Role.ADMIN).delete(f"{url}{session.pk}/").status_code == 204
    from audit.models import AuditLog

    assert AuditLog.objects.filter(action="delete", object_type="ai.session").exists()


def test_admin_pages(client, admin_user, ai):
    session = _session(ai)
    client.force_login(admin_user)
    endpoint = session.endpoint
    for url in (
        "/admin/ai/aiendpoint/",
        f"/admin/ai/aiendpoint/{endpoint.pk}/change/",
        "/admin/ai/aiendpoint/add/",
        "/admin/ai/session/",
        f"/admin/ai/session/{session.pk}/change/",
        f"/admin/ai/aiendpoint/{endpoint.pk}/playground/",
    ):
        assert client.get(url).status_code == 200, url
    page = client.get(f"/admin/ai/aiendpoint/{endpoint.pk}/playground/").content.decode()
    assert 'name="text"' in page and "/playground/run/" in page and "getReader" in page
    assert "cdn" not in page.lower()
    response = client.post(f"/admin/ai/session/{session.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302


def _staff(make_user, ai, role):
    user = make_user(f"staff-{role}", ai.project, role)
    user.is_staff = True
    user.save()
    return user


def test_playground_allowed_by_role(client, make_user, ai):
    endpoint = ai.endpoint()
    client.force_login(_staff(make_user, ai, Role.VIEWER))
    assert client.get(f"/admin/ai/aiendpoint/{endpoint.pk}/playground/").status_code == 403
    client.force_login(_staff(make_user, ai, Role.DEVELOPER))
    assert client.get(f"/admin/ai/aiendpoint/{endpoint.pk}/playground/").status_code == 200


async def _post(client: AsyncClient, url: str, body: dict) -> object:
    return await client.post(url, json.dumps(body), content_type="application/json")


@pytest.fixture
async def async_client_cleanup():
    """Django's async test client keeps the connections its sync middleware opened (it unhooks the
    signal that closes them): close them in that thread, or PostgreSQL cannot drop the test database."""
    yield
    from asgiref.sync import sync_to_async
    from django.db import connections

    await sync_to_async(connections.close_all)()


async def test_playground_runs_json_and_stream(make_user, ai, async_client_cleanup):
    from tests.helpers import orm

    endpoint = await orm(ai.endpoint)(output_schema=SUMMARY_SCHEMA, sessions_enabled=True)
    client = AsyncClient()
    await client.aforce_login(await orm(_staff)(make_user, ai, Role.DEVELOPER))
    url = f"/admin/ai/aiendpoint/{endpoint.pk}/playground/run/"
    response = await _post(client, url, {"variables": {"text": "hello"}})
    assert response.status_code == 200, response.content
    data = response.json()
    # The prompt as sent: openai has native structured output, so the schema goes as response_format.
    rendered = data["rendered"]
    assert rendered["system"] == "You summarise general texts." and rendered["user"] == "Summarise: hello"
    assert rendered["messages"] == [
        {"role": "system", "content": "You summarise general texts."},
        {"role": "user", "content": "Summarise: hello"},
    ]
    assert rendered["response_format"]["json_schema"]["schema"] == SUMMARY_SCHEMA
    assert set(data["parsed"]) == {"title", "score"}
    assert data["provider"] == "openai" and data["model"] == "gpt-4o-mini"
    assert data["latency_ms"] >= 0 and data["session_id"]
    response = await _post(client, url, {"variables": {"text": "hello"}, "stream": True})
    assert response["content-type"].startswith("text/event-stream")
    events = sse_events(b"".join([chunk async for chunk in response.streaming_content]).decode())
    assert events[0]["type"] == "start" and events[0]["rendered"]["user"] == "Summarise: hello"
    assert events[-1]["type"] == "done" and "latency_ms" in events[-1]
    response = await _post(client, url, {"variables": {}})
    assert response.status_code == 400 and "variables.text" in response.json()["error"]["fields"]
    # Each run is a request-log row like any call's, so it counts in usage.
    rows = await orm(_playground_rows)(ai.project, 3)
    assert sorted(r.status for r in rows) == [200, 200, 400]
    assert all(r.endpoint == endpoint.slug and r.gateway == "ai" for r in rows)
    assert sum(1 for r in rows if r.tokens_out) == 2


def _playground_rows(project, count: int, timeout: float = 10.0) -> list:
    import time

    from audit.models import RequestLog

    deadline = time.monotonic() + timeout
    while True:
        rows = list(RequestLog.objects.filter(project_uuid=project.uuid, token_prefix="playground"))
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def test_the_prompt_shown_includes_the_schema_instruction_a_provider_gets():
    from types import SimpleNamespace

    from gateways.ai import playground, structured

    prepared = SimpleNamespace(
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Summarise: x"}],
        endpoint=SimpleNamespace(output_schema=SUMMARY_SCHEMA),
    )
    shown = playground.sent(prepared, "groq")  # no native structured output: an instruction is appended
    assert shown["system"] == "Be brief.\n\n" + structured.instructions(SUMMARY_SCHEMA)
    assert "response_format" not in shown and shown["user"] == "Summarise: x"


async def test_playground_refuses_others(make_user, ai, async_client_cleanup):
    from tests.helpers import orm

    endpoint = await orm(ai.endpoint)()
    url = f"/admin/ai/aiendpoint/{endpoint.pk}/playground/run/"
    anonymous = AsyncClient()
    assert (await _post(anonymous, url, {"variables": {"text": "a"}})).status_code == 404
    viewer = AsyncClient()
    await viewer.aforce_login(await orm(_staff)(make_user, ai, Role.VIEWER))
    assert (await _post(viewer, url, {"variables": {"text": "a"}})).status_code == 403
    stranger = AsyncClient()
    await stranger.aforce_login(await orm(make_user)("stranger"))
    assert (await _post(stranger, url, {"variables": {"text": "a"}})).status_code == 404
    csrf = AsyncClient(enforce_csrf_checks=True)
    await csrf.aforce_login(await orm(_staff)(make_user, ai, Role.OWNER))
    assert (await _post(csrf, url, {"variables": {"text": "a"}})).status_code == 403
    assert ai.mock.requests == []
