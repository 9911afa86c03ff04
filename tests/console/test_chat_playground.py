"""The chat playground streams an answer through the project's public route, and the run is logged."""

from __future__ import annotations

import json
import time

import pytest
from django.urls import reverse

from audit import context
from tests.mock_llm import KEYS


@pytest.fixture
def chat_project(console_user, make_project, make_token, mock_llm):
    """An ai_gateway project whose openai provider is the mock LLM, an alias, and an `ai` token."""
    from credentials.models import Credential, ProviderAssignment
    from gateways.ai.models import ModelAlias

    project = make_project("Chat project", project_type="ai_gateway")
    with context.bind(actor=context.SYSTEM):
        credential = Credential.objects.create(
            provider="openai", name="mock", api_key=KEYS["openai"], base_url=mock_llm.base_url("openai")
        )
        ProviderAssignment.objects.create(project=project, provider="openai", credential=credential)
        ModelAlias.objects.create(project=project, alias="fast", target="openai:gpt-4o-mini")
    _, token = make_token(project, scopes=["ai"])
    return project, token


def request_log(request_id: str, timeout: float = 10.0):
    from audit.models import RequestLog

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = RequestLog.objects.filter(request_id=request_id).first()
        if row is not None:
            return row
        time.sleep(0.1)
    return None


def test_chat_playground_streams_through_the_public_route(
    console_page, console_gateway, chat_project, mock_llm, page_errors, shoot
):
    project, token = chat_project
    console_gateway.sync_config()
    page = console_page
    page.goto(reverse("admin:ai_chat_playground", args=[project.pk]) + "?model=fast")
    page.fill("#chat-token", token)
    page.fill("#chat-system", "Be brief.")
    page.fill("#chat-user", "hello playground")
    page.click("#chat-send")
    page.wait_for_function("document.getElementById('chat-details').textContent.includes('request id')")
    answer = page.locator("#chat-answer").inner_text()
    assert "Hello from the mock. You said: hello playground" in answer
    # The request shown is the one the gateway got: same messages, streamed, to the alias's model.
    sent = json.loads(page.locator("#chat-sent").inner_text().split("\n", 1)[1])
    assert sent["model"] == "fast" and sent["stream"] is True
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hello playground"},
    ]
    (upstream,) = [r for r in mock_llm.requests if r.path == "/v1/chat/completions"]
    assert upstream.body["messages"] == sent["messages"] and upstream.body["model"] == "gpt-4o-mini"
    shoot(page, "chat-playground")
    # A call like any other: one request-log row, with its model, tokens and status.
    details = page.locator("#chat-details").inner_text()
    request_id = details.split("request id: ", 1)[1].split("\n", 1)[0].strip()
    row = request_log(request_id)
    assert row is not None and row.status == 200 and row.model == "gpt-4o-mini" and row.tokens_out
    assert row.project_uuid == project.uuid
    assert page_errors == []
