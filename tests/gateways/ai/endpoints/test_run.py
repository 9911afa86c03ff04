"""Running AI endpoints in process: answers, variables, templating safety, schemas and repair, failover."""

from __future__ import annotations

import pytest

from tests.gateways.ai.endpoints.conftest import SUMMARY_SCHEMA, chats
from tests.helpers import orm

pytestmark = pytest.mark.django_db(transaction=True)


async def test_run_answers_output_usage_cost_provider(gateway, ai):
    await orm(ai.endpoint)()
    response = await gateway.post(
        ai.path("summarise"), json={"variables": {"text": "Bonjour"}}, headers=ai.auth
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["output"] == "Hello from the mock. You said: Summarise: Bonjour"
    assert body["provider"] == "openai"
    assert (
        body["usage"]["total_tokens"]
        == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
        > 0
    )
    assert isinstance(body["cost"], float)
    assert "session_id" not in body and "parsed" not in body and "model" not in body
    assert response.headers["x-promptgate-provider"] == "openai"
    sent = chats(ai.mock)[-1].body
    assert sent["messages"] == [
        {"role": "system", "content": "You summarise general texts."},
        {"role": "user", "content": "Summarise: Bonjour"},
    ]
    assert sent["model"] == "gpt-4o-mini"


async def test_variables_missing_unknown_mistyped_each_listed(gateway, ai):
    await orm(ai.endpoint)(
        "typed",
        user_prompt="{{ text }} {{ n }} {{ flag }} {{ data }} {{ items }} {{ ratio }}",
        system_prompt="",
        variables=[
            {"name": "text", "type": "string", "required": True},
            {"name": "n", "type": "integer", "required": True},
            {"name": "flag", "type": "boolean", "required": True},
            {"name": "data", "type": "object", "required": False},
            {"name": "items", "type": "array", "required": False},
            {"name": "ratio", "type": "number", "required": False, "default": 0.5},
        ],
    )
    variables = {"n": "3", "flag": 1, "data": [], "items": {}, "ratio": True, "extra": "x"}
    response = await gateway.post(ai.path("typed"), json={"variables": variables}, headers=ai.auth)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["fields"] == {
        "variables.text": ["This variable is required."],
        "variables.n": ["Expected integer."],
        "variables.flag": ["Expected boolean."],
        "variables.data": ["Expected object."],
        "variables.items": ["Expected array."],
        "variables.ratio": ["Expected number."],
        "variables.extra": ["Unknown variable."],
    }
    assert chats(ai.mock) == []
    good = {"text": "t", "n": 3, "flag": False, "data": {"a": [1]}, "items": ["x", 2]}
    response = await gateway.post(ai.path("typed"), json={"variables": good}, headers=ai.auth)
    assert response.status_code == 200, response.text
    assert chats(ai.mock)[-1].body["messages"] == [
        {"role": "user", "content": 't 3 false {"a":[1]} ["x",2] 0.5'}
    ]


async def test_body_shape_refused(gateway, ai):
    await orm(ai.endpoint)()
    for body, field in (
        ({"variables": {"text": "a"}, "model": "gpt-4o"}, "model"),
        ({"variables": {"text": "a"}, "stream": "yes"}, "stream"),
        ({"variables": ["a"]}, "variables"),
    ):
        response = await gateway.post(ai.path("summarise"), json=body, headers=ai.auth)
        assert response.status_code == 400, body
        assert field in response.json()["error"]["fields"]
    response = await gateway.post(ai.path("summarise"), content=b"{not json", headers=ai.auth)
    assert response.status_code == 400 and response.json()["error"]["code"] == "malformed_json"


async def test_template_injection_stays_literal(gateway, ai):
    await orm(ai.endpoint)()
    hostile = "{{ topic }} {{topic}} {% for x in y %} ${jndi} {{ __class__.__mro__ }} }}{{"
    response = await gateway.post(
        ai.path("summarise"), json={"variables": {"text": hostile, "topic": "{{ text }}"}}, headers=ai.auth
    )
    assert response.status_code == 200, response.text
    messages = chats(ai.mock)[-1].body["messages"]
    assert messages[0]["content"] == "You summarise {{ text }} texts."
    assert messages[1]["content"] == f"Summarise: {hostile}"


async def test_unicode_round_trips(gateway, ai):
    await orm(ai.endpoint)()
    text = "Grüße 👋🏽 日本語 \u202etxt\u202c \x00nul"
    response = await gateway.post(ai.path("summarise"), json={"variables": {"text": text}}, headers=ai.auth)
    assert response.status_code == 200, response.text
    assert chats(ai.mock)[-1].body["messages"][1]["content"] == f"Summarise: {text}"


async def test_huge_values_refused(gateway, ai, settings):
    await orm(ai.endpoint)()
    settings.PROMPTGATE_AI_MAX_VARIABLE_CHARS = 1000
    response = await gateway.post(
        ai.path("summarise"), json={"variables": {"text": "x" * 1001}}, headers=ai.auth
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"variables.text": ["Longer than 1000 characters."]}
    settings.PROMPTGATE_AI_MAX_VARIABLE_CHARS = 10_000
    settings.PROMPTGATE_AI_MAX_PROMPT_CHARS = 5_000
    response = await gateway.post(
        ai.path("summarise"), json={"variables": {"text": "x" * 6000}}, headers=ai.auth
    )
    assert response.status_code == 413 and response.json()["error"]["code"] == "prompt_too_large"
    settings.PROMPTGATE_MAX_BODY_BYTES = 50_000
    response = await gateway.post(
        ai.path("summarise"), json={"variables": {"text": "x" * 60_000}}, headers=ai.auth
    )
    assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"
    assert chats(ai.mock) == []


async def test_schema_native_answer_parsed(gateway, ai):
    await orm(ai.endpoint)("structured", output_schema=SUMMARY_SCHEMA)
    response = await gateway.post(ai.path("structured"), json={"variables": {"text": "a"}}, headers=ai.auth)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body["parsed"]) == {"title", "score"} and isinstance(body["parsed"]["score"], int)
    sent = chats(ai.mock)[-1].body
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": SUMMARY_SCHEMA},
    }


async def test_schema_repair_success(gateway, ai):
    await orm(ai.endpoint)("structured", output_schema=SUMMARY_SCHEMA)
    ai.mock.script('{"title": "T", "score": "high"}', '```json\n{"title": "T", "score": 9}\n```')
    response = await gateway.post(ai.path("structured"), json={"variables": {"text": "a"}}, headers=ai.auth)
    assert response.status_code == 200, response.text
    assert response.json()["parsed"] == {"title": "T", "score": 9}
    first, second = chats(ai.mock)
    repair = second.body["messages"]
    assert repair[:-2] == first.body["messages"]
    assert repair[-2] == {"role": "assistant", "content": '{"title": "T", "score": "high"}'}
    assert "$.score: 'high' is not of type 'integer'" in repair[-1]["content"]
    # both calls are billed
    assert response.json()["usage"]["prompt_tokens"] > 0


async def test_schema_repair_failure_is_502(gateway, ai):
    await orm(ai.endpoint)("structured", output_schema=SUMMARY_SCHEMA, sessions_enabled=True)
    ai.mock.script("not json at all", '{"title": 1}')
    response = await gateway.post(ai.path("structured"), json={"variables": {"text": "a"}}, headers=ai.auth)
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "schema_violation"
    assert error["fields"]["output"] == [
        "$: 'score' is a required property",
        "$.title: 1 is not of type 'string'",
    ]
    assert len(chats(ai.mock)) == 2


async def test_schema_without_native_support_gets_instructions(gateway, ai):
    await orm(ai.assign)("groq")
    await orm(ai.endpoint)(
        "structured", output_schema=SUMMARY_SCHEMA, chain=[{"provider": "groq", "model": "llama-3.1-8b"}]
    )
    ai.mock.script('{"title": "T", "score": 1}')
    response = await gateway.post(ai.path("structured"), json={"variables": {"text": "a"}}, headers=ai.auth)
    assert response.status_code == 200, response.text
    assert response.json()["provider"] == "groq"
    sent = chats(ai.mock)[-1].body
    assert "response_format" not in sent
    assert "must validate against this JSON Schema" in sent["messages"][0]["content"]


async def test_failover_along_the_chain(gateway, ai):
    await orm(ai.assign)("anthropic")
    await orm(ai.endpoint)(
        chain=[
            {"provider": "openai", "model": "gpt-4o-mini+fail-500"},
            {"provider": "anthropic", "model": "claude-sonnet-4-5"},
        ],
        parameters={"max_tokens": 100},
    )
    response = await gateway.post(ai.path("summarise"), json={"variables": {"text": "a"}}, headers=ai.auth)
    assert response.status_code == 200, response.text
    assert response.json()["provider"] == "anthropic"
    assert [r.path for r in chats(ai.mock)] == ["/v1/chat/completions", "/v1/messages"]


async def test_anthropic_forced_tool_structured_output(gateway, ai):
    await orm(ai.assign)("anthropic")
    await orm(ai.endpoint)(
        "structured",
        chain=[{"provider": "anthropic", "model": "claude-sonnet-4-5"}],
        output_schema=SUMMARY_SCHEMA,
        parameters={"max_tokens": 100},
    )
    response = await gateway.post(ai.path("structured"), json={"variables": {"text": "a"}}, headers=ai.auth)
    assert response.status_code == 200, response.text
    assert set(response.json()["parsed"]) == {"title", "score"}
    assert chats(ai.mock)[-1].body["tool_choice"]["type"] == "tool"


async def test_routing_refusals(gateway, ai, amake_token):
    await orm(ai.endpoint)()
    await orm(ai.endpoint)("off", enabled=False)
    await orm(ai.endpoint)("nowhere", chain=[{"provider": "gemini", "model": "gemini-2.0-flash"}])
    cases = [
        ("post", ai.path("missing"), 404, "not_found"),
        ("post", ai.path("off"), 404, "not_found"),
        ("get", ai.path("summarise"), 405, "method_not_allowed"),
        ("post", ai.path("nowhere"), 503, "endpoint_unavailable"),
    ]
    for method, path, status, code in cases:
        response = await gateway.request(method, path, json={"variables": {"text": "a"}}, headers=ai.auth)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), path
    assert "gemini" not in response.text  # the chain stays private
    _, mcp_only = await amake_token(ai.project, scopes=["mcp"])
    response = await gateway.post(
        ai.path("summarise"),
        json={"variables": {"text": "a"}},
        headers={"Authorization": f"Bearer {mcp_only}"},
    )
    assert response.status_code == 403


async def test_endpoint_rate_limit(gateway, ai):
    await orm(ai.endpoint)(rate_limit_per_minute=1)
    first = await gateway.post(ai.path("summarise"), json={"variables": {"text": "a"}}, headers=ai.auth)
    second = await gateway.post(ai.path("summarise"), json={"variables": {"text": "a"}}, headers=ai.auth)
    assert first.status_code == 200 and second.status_code == 429
    assert second.json()["error"]["code"] == "rate_limited"


async def test_endpoint_limits_ride_the_one_admission_call(gateway, ai, monkeypatch):
    """Endpoint RPM and daily budget join the project's admission: one Redis round trip, not three."""
    from decimal import Decimal

    from django.conf import settings

    from gateways.common.transport import resp

    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL (CI's second run)")
    await orm(ai.endpoint)(rate_limit_per_minute=100, daily_budget=Decimal("5"))
    assert (
        await gateway.post(ai.path("summarise"), json={"variables": {"text": "a"}}, headers=ai.auth)
    ).status_code == 200
    sent: list[str] = []
    original = resp.PipelinedRedis.execute

    async def counting(self, *args):
        sent.append(str(args[0]))
        return await original(self, *args)

    monkeypatch.setattr(resp.PipelinedRedis, "execute", counting)
    response = await gateway.post(ai.path("summarise"), json={"variables": {"text": "a"}}, headers=ai.auth)
    assert response.status_code == 200
    assert response.headers["ratelimit-policy"].count("endpoint") == 1
    assert sent.count("EVALSHA") == 1


async def test_warm_run_makes_no_db_query(gateway, ai):
    from gateways.common import db

    await orm(ai.endpoint)()
    for _ in range(2):  # the first call warms the caches
        response = await gateway.post(
            ai.path("summarise"), json={"variables": {"text": "a"}}, headers=ai.auth
        )
        assert response.status_code == 200
    before = db.counter.calls
    response = await gateway.post(ai.path("summarise"), json={"variables": {"text": "a"}}, headers=ai.auth)
    assert response.status_code == 200
    response = await gateway.post(
        ai.path("summarise"), json={"variables": {"text": "a"}, "stream": True}, headers=ai.auth
    )
    assert response.status_code == 200
    assert db.counter.calls == before


async def test_introspection_lists_ai_endpoints(gateway, ai, amake_token):
    await orm(ai.endpoint)(mcp_tool=True)
    _, admin = await amake_token(ai.project, scopes=["admin"])
    response = await gateway.get(f"/api/{ai.uuid}/endpoints", headers={"Authorization": f"Bearer {admin}"})
    assert response.status_code == 200
    listed = [e for e in response.json()["endpoints"] if e["kind"] == "ai"]
    assert listed == [
        {
            "kind": "ai",
            "slug": "summarise",
            "path": "ai/summarise",
            "methods": ["POST"],
            "enabled": True,
            "mcp_tool": True,
        }
    ]
    assert "Summarise" not in response.text  # prompts stay private


async def test_endpoint_daily_budget(gateway, ai):
    from decimal import Decimal

    await orm(ai.endpoint)(daily_budget=Decimal("0"))
    await orm(ai.endpoint)("free")
    response = await gateway.post(ai.path("summarise"), json={"variables": {"text": "a"}}, headers=ai.auth)
    assert response.status_code == 429 and response.json()["error"]["code"] == "budget_exceeded"
    assert "endpoint" in response.json()["error"]["message"]
    response = await gateway.post(ai.path("free"), json={"variables": {"text": "a"}}, headers=ai.auth)
    assert response.status_code == 200
    assert len(chats(ai.mock)) == 1
