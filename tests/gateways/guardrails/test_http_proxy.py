"""Guardrails on the HTTP proxy, through a real gateway process and plain HTTP: JSON and text request
bodies redacted or refused (400 guardrail_blocked), responses redacted or refused (502), other types
passed with a note, failing closed on unreadable bodies under a block rule, endpoint-level rules."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from django.test import override_settings

from gateways.http.models import ApiEndpoint
from tests.gateways.guardrails.conftest import add_falcon_rule, add_rule
from tests.gateways.guardrails.mirror import Mirror
from tests.helpers import log_rows

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def mirror() -> Iterator[Mirror]:
    with Mirror() as server:
        yield server


@pytest.fixture
def proxy(gateway, make_project, make_token, mirror):
    project = make_project("Guarded API", project_type="api_gateway")
    _, token = make_token(project, scopes=["proxy"])
    mirror.bodies.clear()
    mirror.answers.clear()
    with override_settings(PROMPTGATE_SSRF_ALLOW=["127.0.0.0/8"]):
        for slug, path in (("m", "/mirror"), ("a", "/answer"), ("b", "/answer")):
            endpoint = ApiEndpoint(project=project, slug=slug, upstream_url=mirror.url(path))
            endpoint.full_clean()
            endpoint.save()

    class Proxy:
        def __init__(self) -> None:
            self.project = project

        def call(self, slug: str, method: str = "POST", query: str = "", **kwargs) -> httpx.Response:
            gateway.sync_config()
            url = gateway.url(f"/api/{project.uuid}/proxy/{slug}{query}")
            return httpx.request(
                method,
                url,
                headers={"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})},
                timeout=20,
                **kwargs,
            )

    return Proxy()


def test_request_json_redacted_and_text_blocked(proxy, mirror):
    add_rule(proxy.project, name="pii", kind="pii", action="redact", stage="input")
    response = proxy.call(
        "m", json={"user": {"email": "jane@example.com", "notes": ["ssn 123-45-6789"]}, "n": 3}
    )
    assert response.status_code == 200
    assert json.loads(mirror.bodies[-1]) == {"user": {"email": "[EMAIL]", "notes": ["ssn [US_SSN]"]}, "n": 3}
    assert (
        "pii;level=project;stage=input;action=redact;count=2" in response.headers["x-promptgate-guardrails"]
    )
    add_falcon_rule(proxy.project, stage="input")
    before = len(mirror.bodies)
    response = proxy.call("m", content=b"about the Falcon plan", headers={"Content-Type": "text/plain"})
    assert response.status_code == 400
    assert (
        response.json()["error"]["code"] == "guardrail_blocked"
        and "words" in response.json()["error"]["message"]
    )
    assert len(mirror.bodies) == before  # never reached the upstream
    rows = log_rows(proxy.project, 2)
    assert rows[-1].guardrails["blocked"] is True and "Falcon" not in json.dumps(rows[-1].guardrails)


def test_other_types_pass_with_a_note_and_unparseable_json_fails_closed(proxy, mirror):
    add_rule(proxy.project, name="pii", kind="pii", action="redact", stage="input")
    response = proxy.call("m", content=b"\x00a@b.io", headers={"Content-Type": "application/octet-stream"})
    assert response.status_code == 200 and mirror.bodies[-1] == b"\x00a@b.io"
    assert "note=input-unchecked:content-type" in response.headers["x-promptgate-guardrails"]
    add_rule(proxy.project, name="keys", kind="secrets", action="block", stage="input")
    response = proxy.call("m", content=b'{"broken": ', headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "guardrail_error"


def test_response_redacted_and_blocked(proxy, mirror):
    add_rule(proxy.project, name="pii", kind="pii", action="redact", stage="output")
    add_rule(proxy.project, name="keys", kind="secrets", action="block", stage="output")
    mirror.answer(json.dumps({"contact": "ops@example.com"}), "application/json")
    response = proxy.call("a", "GET")
    assert response.status_code == 200 and response.json() == {"contact": "[EMAIL]"}
    assert response.headers["content-length"] == str(len(response.content))
    mirror.answer("line one\nkey AKIAIOSFODNN7EXAMPLE\n" * 50, "text/plain; charset=utf-8")
    response = proxy.call("a", "GET", query="?chunked=1")
    assert response.status_code == 502 and response.json()["error"]["code"] == "guardrail_blocked"
    assert "AKIA" not in response.text


def test_endpoint_level_rule_only_on_its_endpoint(proxy, mirror):
    add_falcon_rule(proxy.project, stage="output", endpoint="b")
    mirror.answer("the falcon")
    assert proxy.call("a", "GET").status_code == 200
    mirror.answer("the falcon")
    response = proxy.call("b", "GET")
    assert response.status_code == 502 and "level=endpoint" in response.headers["x-promptgate-guardrails"]


def test_event_stream_response_guarded_across_chunks(proxy, mirror):
    add_rule(proxy.project, name="pii", kind="pii", action="redact", stage="output")
    events = "".join(f'data: {{"n": {i}, "to": "user{i}@example.com"}}\n\n' for i in range(30))
    mirror.answer(events, "text/event-stream")
    response = proxy.call("a", "GET", query="?chunked=1")  # 7-byte pieces: every address is split
    assert response.status_code == 200
    import re

    assert response.text == re.sub(r"user\d+@example\.com", "[EMAIL]", events)
    assert "@example.com" not in response.text and response.text.count("[EMAIL]") == 30
    add_falcon_rule(proxy.project, stage="output")
    mirror.answer("data: a\n\n" * 300 + "data: the falcon\n\n" + "data: b\n\n" * 40, "text/event-stream")
    response = proxy.call("a", "GET", query="?chunked=1")
    assert "falcon" not in response.text and "data: b" not in response.text
    assert response.text.startswith("data: a\n\n")


def test_event_stream_request_body_is_checked_before_the_upstream(proxy, mirror):
    """A client's SSE request body is text: read whole, redacted or refused before the upstream sees it."""
    add_rule(proxy.project, name="pii", kind="pii", action="redact", stage="input")
    events = b"event: note\ndata: mail jane@example.com\n\ndata: done\n\n"
    response = proxy.call("m", content=events, headers={"Content-Type": "text/event-stream"})
    assert response.status_code == 200
    assert mirror.bodies[-1] == b"event: note\ndata: mail [EMAIL]\n\ndata: done\n\n"
    assert (
        "pii;level=project;stage=input;action=redact;count=1" in response.headers["x-promptgate-guardrails"]
    )
    add_falcon_rule(proxy.project, stage="input")
    before = len(mirror.bodies)
    response = proxy.call(
        "m",
        content=b"data: the falcon plan\n\n",
        headers={"Content-Type": "text/event-stream; charset=utf-8"},
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "guardrail_blocked"
    assert len(mirror.bodies) == before  # refused before the upstream


def test_other_types_pass_even_under_block_rules(proxy, mirror):
    add_rule(proxy.project, name="keys", kind="secrets", action="block", stage="output")
    mirror.answer(b"\x89PNG AKIAIOSFODNN7EXAMPLE", "image/png")
    response = proxy.call("a", "GET")
    assert (
        response.status_code == 200
        and "note=output-unchecked:content-type" in response.headers["x-promptgate-guardrails"]
    )
