"""Streaming runs, sessions (create, continue, trim, expire, serialise) and ai_wrapper routes, in process."""

from __future__ import annotations

import asyncio
import datetime

import pytest

from tests.gateways.ai.endpoints.conftest import SUMMARY_SCHEMA, chats, make_ai_project, sse_events
from tests.helpers import orm

pytestmark = pytest.mark.django_db(transaction=True)


async def test_stream_deltas_then_final_event(gateway, ai):
    await orm(ai.endpoint)()
    response = await gateway.post(
        ai.path("summarise"), json={"variables": {"text": "one two"}, "stream": True}, headers=ai.auth
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    deltas = [e["delta"] for e in events if e["type"] == "delta"]
    assert len(deltas) > 1
    final = events[-1]
    assert final["type"] == "done"
    assert "".join(deltas) == final["output"] == "Hello from the mock. You said: Summarise: one two"
    assert final["provider"] == "openai" and final["usage"]["completion_tokens"] > 0 and "cost" in final


async def test_stream_with_schema_repairs_at_the_end(gateway, ai):
    await orm(ai.endpoint)("structured", output_schema=SUMMARY_SCHEMA)
    ai.mock.script("nope", '{"title": "T", "score": 2}')
    response = await gateway.post(
        ai.path("structured"), json={"variables": {"text": "a"}, "stream": True}, headers=ai.auth
    )
    final = sse_events(response.text)[-1]
    assert final["type"] == "done" and final["parsed"] == {"title": "T", "score": 2}
    ai.mock.script("nope", "still nope")
    response = await gateway.post(
        ai.path("structured"), json={"variables": {"text": "a"}, "stream": True}, headers=ai.auth
    )
    final = sse_events(response.text)[-1]
    assert final["type"] == "error" and final["error"]["code"] == "schema_violation"


async def test_stream_refused_when_not_allowed(gateway, ai):
    await orm(ai.endpoint)(stream_allowed=False)
    response = await gateway.post(
        ai.path("summarise"), json={"variables": {"text": "a"}, "stream": True}, headers=ai.auth
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "stream_not_allowed"


async def test_stream_cut_mid_way_ends_with_an_error_event(gateway, ai):
    await orm(ai.endpoint)(
        chain=[{"provider": "openai", "model": "gpt-4o-mini+cut-mid-stream"}], sessions_enabled=True
    )
    body = {"variables": {"text": "a b c d e f"}, "session_id": "cut-session-1"}
    response = await gateway.post(ai.path("summarise"), json={**body, "stream": True}, headers=ai.auth)
    events = sse_events(response.text)
    assert events[-1]["type"] == "error"
    # Nothing half-said is kept, and the lease is released: the next call goes through at once.
    response = await gateway.post(ai.path("summarise"), json=body, headers=ai.auth, timeout=5)
    assert response.status_code == 200
    row = await orm(_session)("cut-session-1")
    assert [m["role"] for m in row.messages] == ["user", "assistant"]
    assert row.lock_token == ""


def _session(key: str):
    from gateways.ai.models import Session

    return Session.objects.get(key=key)


async def test_session_created_continued_and_trimmed(gateway, ai):
    await orm(ai.endpoint)(sessions_enabled=True, session_history_limit=4)
    first = await gateway.post(ai.path("summarise"), json={"variables": {"text": "one"}}, headers=ai.auth)
    session_id = first.json()["session_id"]
    assert first.headers["x-promptgate-session-id"] == session_id
    for text in ("two", "three"):
        response = await gateway.post(
            ai.path("summarise"),
            json={"variables": {"text": text}, "session_id": session_id},
            headers=ai.auth,
        )
        assert response.status_code == 200 and response.json()["session_id"] == session_id
    sent = chats(ai.mock)[-1].body["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert [m["content"] for m in sent if m["role"] == "user"] == [
        "Summarise: one",
        "Summarise: two",
        "Summarise: three",
    ]
    row = await orm(_session)(session_id)
    assert [m["content"] for m in row.messages if m["role"] == "user"] == [
        "Summarise: two",
        "Summarise: three",
    ]
    assert len(row.messages) == 4


async def test_session_named_by_client_and_validated(gateway, ai):
    await orm(ai.endpoint)(sessions_enabled=True)
    await orm(ai.endpoint)("plain")
    named = await gateway.post(
        ai.path("summarise"), json={"variables": {"text": "a"}, "session_id": "user-42_chat"}, headers=ai.auth
    )
    assert named.json()["session_id"] == "user-42_chat"
    for bad in ("short", "has space in it", "../../etc/passwd", "x" * 129, 12345678):
        response = await gateway.post(
            ai.path("summarise"), json={"variables": {"text": "a"}, "session_id": bad}, headers=ai.auth
        )
        assert response.status_code == 400 and "session_id" in response.json()["error"]["fields"], bad
    response = await gateway.post(
        ai.path("plain"), json={"variables": {"text": "a"}, "session_id": "user-42_chat"}, headers=ai.auth
    )
    assert response.status_code == 400


async def test_sessions_belong_to_one_endpoint(gateway, ai):
    await orm(ai.endpoint)(sessions_enabled=True)
    await orm(ai.endpoint)("other", sessions_enabled=True)
    body = {"variables": {"text": "secret"}, "session_id": "shared-id-1"}
    await gateway.post(ai.path("summarise"), json=body, headers=ai.auth)
    await gateway.post(ai.path("other"), json={**body, "variables": {"text": "b"}}, headers=ai.auth)
    sent = chats(ai.mock)[-1].body["messages"]
    assert "secret" not in str(sent)


async def test_expired_session_starts_over(gateway, ai):
    from gateways.ai.models import Session

    await orm(ai.endpoint)(sessions_enabled=True)
    body = {"variables": {"text": "old"}, "session_id": "expiring-1"}
    await gateway.post(ai.path("summarise"), json=body, headers=ai.auth)
    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=1)
    await orm(lambda: Session.objects.filter(key="expiring-1").update(expires_at=past))()
    await gateway.post(ai.path("summarise"), json={**body, "variables": {"text": "new"}}, headers=ai.auth)
    sent = chats(ai.mock)[-1].body["messages"]
    assert "old" not in str(sent)
    row = await orm(_session)("expiring-1")
    assert [m["content"] for m in row.messages] == [
        "Summarise: new",
        "Hello from the mock. You said: Summarise: new",
    ]


async def test_concurrent_calls_on_one_session_are_serialised(gateway, ai):
    await orm(ai.endpoint)(
        sessions_enabled=True, chain=[{"provider": "openai", "model": "gpt-4o-mini+slow-first-byte-300"}]
    )

    async def call(text: str):
        body = {"variables": {"text": text}, "session_id": "concurrent-1"}
        return await gateway.post(ai.path("summarise"), json=body, headers=ai.auth)

    responses = await asyncio.gather(call("alpha"), call("beta"))
    assert [r.status_code for r in responses] == [200, 200]
    row = await orm(_session)("concurrent-1")
    users = [m["content"] for m in row.messages if m["role"] == "user"]
    assert sorted(users) == ["Summarise: alpha", "Summarise: beta"]
    assert [m["role"] for m in row.messages] == ["user", "assistant", "user", "assistant"]
    first, second = chats(ai.mock)
    assert len(second.body["messages"]) == len(first.body["messages"]) + 2  # the second saw the first


async def test_ai_wrapper_has_ai_endpoints_but_no_v1(
    gateway, transactional_db, make_project, make_token, mock_llm
):
    wrapper = await orm(make_ai_project)(make_project, make_token, mock_llm, "ai_wrapper")
    await orm(wrapper.endpoint)()
    for path in ("v1/chat/completions", "v1/models", "v1/embeddings"):
        response = await gateway.post(f"/api/{wrapper.uuid}/{path}", json={}, headers=wrapper.auth)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "route_not_in_project_type"
    response = await gateway.post(
        wrapper.path("summarise"), json={"variables": {"text": "a"}}, headers=wrapper.auth
    )
    assert response.status_code == 200, response.text


async def test_other_project_types_have_no_ai_route(gateway, amake_project, amake_token):
    project = await amake_project("HTTP one", project_type="api_gateway")
    _, token = await amake_token(project, scopes=["ai"])
    response = await gateway.post(
        f"/api/{project.uuid}/ai/x", json={}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 404 and response.json()["error"]["code"] == "route_not_in_project_type"
