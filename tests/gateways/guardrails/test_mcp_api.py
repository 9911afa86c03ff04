"""The engine API the MCP gateway calls (`service.check_payload`): any JSON value's strings checked with
the project's rules and the MCP server prefix's endpoint rules, redacted in place, or refused with a
GuardrailBlocked that carries the JSON-RPC error; compiled once per config version."""

from __future__ import annotations

import pytest

from gateways.common.config import ConfigCache
from gateways.guardrails import service
from gateways.guardrails.verdicts import JSONRPC_CODE, GuardrailBlocked, GuardrailFailed, record
from gateways.mcp.models import McpServer
from tests.gateways.guardrails.conftest import add_rule
from tests.helpers import orm

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def mcp_project(make_project):
    from django.test import override_settings

    from audit import context

    project = make_project("Guarded MCP", project_type="mcp_gateway")
    with override_settings(PROMPTGATE_SSRF_ALLOW=["127.0.0.0/8"]), context.bind(actor=context.SYSTEM):
        McpServer.objects.create(project=project, prefix="github", upstream_url="http://127.0.0.1:9/mcp")
    return project


async def test_arguments_redacted_in_place(mcp_project):
    await orm(add_rule)(mcp_project, name="pii", kind="pii", action="redact", stage="input")
    cache = ConfigCache()
    arguments = {"query": "issues by jane@example.com", "labels": ["bug", "a@b.io"], "limit": 5}
    verdict = await service.check_payload(cache, mcp_project.id, "github", "input", arguments)
    assert arguments == {"query": "issues by [EMAIL]", "labels": ["bug", "[EMAIL]"], "limit": 5}
    assert verdict.value is arguments and verdict.redacted
    log: dict = {}
    record(log, verdict)
    assert log["guardrails"]["hits"] == [
        {"rule": "pii", "level": "project", "kind": "pii", "action": "redact", "stage": "input", "count": 2}
    ]
    # Output stage rules only: the same value passes untouched on output.
    result = {"content": [{"type": "text", "text": "mail c@d.io"}]}
    verdict = await service.check_payload(cache, mcp_project.id, "github", "output", result)
    assert result["content"][0]["text"] == "mail c@d.io" and not verdict.hits


async def test_result_blocked_carries_the_jsonrpc_error(mcp_project):
    await orm(add_rule)(
        mcp_project, name="keys", endpoint="github", kind="secrets", action="block", stage="output"
    )
    cache = ConfigCache()
    result = {"content": [{"type": "text", "text": "token ghp_" + "a" * 36}], "isError": False}
    with pytest.raises(GuardrailBlocked) as caught:
        await service.check_payload(cache, mcp_project.id, "github", "output", result)
    error = caught.value.jsonrpc_error()
    assert error["code"] == JSONRPC_CODE
    assert error["data"] == {"code": "guardrail_blocked", "stage": "output", "rules": ["keys"]}
    assert "ghp_" not in error["message"] and caught.value.status == 502
    # The endpoint rule belongs to the `github` prefix only.
    other = await service.check_payload(cache, mcp_project.id, "jira", "output", result)
    assert not other.hits


async def test_prompt_result_and_bare_string(mcp_project):
    await orm(add_rule)(
        mcp_project, name="words", kind="keywords", action="redact", config={"words": ["falcon"]}
    )
    cache = ConfigCache()
    prompt = {"messages": [{"role": "user", "content": {"type": "text", "text": "Plan Falcon"}}]}
    await service.check_payload(cache, mcp_project.id, "github", "output", prompt)
    assert prompt["messages"][0]["content"]["text"] == "Plan [REDACTED]"
    verdict = await service.check_payload(cache, mcp_project.id, "github", "input", "falcon")
    assert verdict.value == "[REDACTED]"


async def test_engine_compiled_once_per_config_version(mcp_project, monkeypatch):
    from gateways.common import versioning

    await orm(add_rule)(mcp_project, name="pii", kind="pii", action="redact")
    cache = ConfigCache()
    built = []
    real = service.load_engine
    monkeypatch.setattr(service, "load_engine", lambda *a: built.append(a) or real(*a))
    for _ in range(5):
        await service.check_payload(cache, mcp_project.id, "github", "input", {"x": "a@b.io"})
    assert len(built) == 1
    versioning.local_version.bump_locally()  # a config change anywhere
    await service.check_payload(cache, mcp_project.id, "github", "input", {"x": "a@b.io"})
    assert len(built) == 2


async def test_detector_failure_fails_closed(mcp_project, monkeypatch):
    from gateways.guardrails.detectors.pii import PiiDetector

    await orm(add_rule)(mcp_project, name="pii", kind="pii", action="block")

    def broken(self, text):
        raise RuntimeError("boom")

    monkeypatch.setattr(PiiDetector, "find", broken)
    with pytest.raises(GuardrailFailed) as caught:
        await service.check_payload(ConfigCache(), mcp_project.id, "github", "input", {"x": "hello"})
    assert caught.value.jsonrpc_error()["data"]["code"] == "guardrail_error"
