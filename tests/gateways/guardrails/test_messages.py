"""Guardrails on /v1/messages through the official anthropic SDK (`messages.create`, `messages.stream`)
against the mock LLM: Anthropic served natively, OpenAI through translation. Input redaction and refusal
(Anthropic's error shape, BadRequestError with the code findable), warn, output redaction and refusal
(`stop_reason: refusal`) on JSON answers and SSE streams, header and request log."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import pytest

from tests.gateways.guardrails.conftest import add_falcon_rule, add_rule
from tests.helpers import anthropic_sdk, log_rows

pytestmark = pytest.mark.django_db(transaction=True)
MODELS = ["anthropic:claude-3-5-haiku", "openai:gpt-4o-mini"]


@pytest.fixture
def claude(two_providers, gateway) -> Iterator[anthropic.Anthropic]:
    with anthropic_sdk(gateway, two_providers.project.uuid, two_providers.token) as client:
        yield client


def test_input_redaction_reaches_upstream_redacted(two_providers, claude):
    add_rule(None, name="pii", kind="pii", action="redact", stage="input")
    raw = claude.messages.with_raw_response.create(
        model="anthropic:claude-3-5-haiku",
        max_tokens=64,
        system=[{"type": "text", "text": "Answer jane@example.com only."}],
        messages=[
            {"role": "user", "content": "I am jane@example.com"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t1", "name": "mail", "input": {"to": "a@b.io"}}],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "t1", "content": "sent to a@b.io"},
                    {"type": "text", "text": "and c@d.io?"},
                ],
            },
        ],
    )
    assert raw.parse().stop_reason == "end_turn"
    sent = two_providers.mock.last().body
    assert sent["system"][0]["text"] == "Answer [EMAIL] only."
    assert sent["messages"][0]["content"] == "I am [EMAIL]"
    assert sent["messages"][1]["content"][0]["input"] == {"to": "[EMAIL]"}
    assert sent["messages"][2]["content"][0]["content"] == "sent to [EMAIL]"
    assert sent["messages"][2]["content"][1]["text"] == "and [EMAIL]?"
    assert raw.headers["x-promptgate-guardrails"] == "pii;level=global;stage=input;action=redact;count=5"
    (row,) = log_rows(two_providers.project)
    assert row.endpoint == "messages" and row.guardrails["hits"][0]["count"] == 5
    assert "jane" not in str(row.guardrails)


@pytest.mark.parametrize("stream", [False, True])
def test_input_block_answers_anthropics_error_shape(two_providers, claude, stream):
    add_rule(two_providers.project, name="keys", kind="secrets", action="block")
    request = {"model": "anthropic:claude-3-5-haiku", "max_tokens": 64}
    messages = [{"role": "user", "content": "my key is AKIAIOSFODNN7EXAMPLE"}]
    with pytest.raises(anthropic.BadRequestError) as caught:
        if stream:
            with claude.messages.stream(**request, messages=messages) as s:
                list(s)
        else:
            claude.messages.create(**request, messages=messages)
    error = caught.value
    assert error.status_code == 400
    assert error.body["type"] == "error" and error.body["error"]["type"] == "invalid_request_error"
    assert error.body["error"]["code"] == "guardrail_blocked"
    assert "keys" in error.body["error"]["message"] and "AKIA" not in str(error.body)
    assert error.response.headers["x-promptgate-guardrails"].startswith("keys;level=project;stage=input")
    assert two_providers.mock.requests == []  # refused before any upstream call
    (row,) = log_rows(two_providers.project)
    assert row.status == 400 and row.error_code == "guardrail_blocked" and row.guardrails["blocked"] is True


def test_warn_only_records(two_providers, claude):
    add_falcon_rule(two_providers.project, action="warn")
    message = claude.messages.create(
        model="anthropic:claude-3-5-haiku",
        max_tokens=64,
        messages=[{"role": "user", "content": "tell me about Falcon"}],
    )
    assert "Falcon" in message.content[0].text  # the mock echoes; nothing changed
    (row,) = log_rows(two_providers.project)
    assert [(h["rule"], h["stage"], h["count"]) for h in row.guardrails["hits"]] == [
        ("words", "input", 1),
        ("words", "output", 1),
    ]


@pytest.mark.parametrize("model", MODELS)
def test_output_redaction_and_refusal_json(two_providers, claude, model):
    add_rule(two_providers.project, name="pii", kind="pii", action="redact", stage="output")
    add_falcon_rule(two_providers.project, stage="output")
    two_providers.mock.script("Write to bob@example.org please.", "The falcon has landed.")
    request = {"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
    first = claude.messages.create(**request)
    assert first.content[0].text == "Write to [EMAIL] please." and first.stop_reason == "end_turn"
    second = claude.messages.create(**request)
    assert second.stop_reason == "refusal" and second.content == []
    rows = log_rows(two_providers.project, 2)
    assert rows[1].guardrails["blocked"] is True and rows[1].error_code == "guardrail_blocked"


@pytest.mark.parametrize("model", MODELS)
def test_stream_output_redacted_across_chunks(two_providers, claude, model):
    add_rule(two_providers.project, name="pii", kind="pii", action="redact", stage="output")
    # The mock streams word by word: the card number arrives split over 4 deltas.
    two_providers.mock.script("Mail bob@example.org or card 4111 1111 1111 1111 ssn 123-45-6789 done")
    request = {"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
    with claude.messages.stream(**request) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    expected = "Mail [EMAIL] or card [CREDIT_CARD] ssn [US_SSN] done"
    assert text == expected
    assert final.content[0].text == expected and final.stop_reason == "end_turn"
    (row,) = log_rows(two_providers.project)
    assert row.guardrails["hits"][0]["count"] == 3 and row.status == 200


@pytest.mark.parametrize("model", MODELS)
def test_stream_block_ends_with_refusal(two_providers, claude, model):
    add_falcon_rule(two_providers.project, stage="output")
    two_providers.mock.script("word " * 200 + "the falcon " + "more " * 50)
    request = {"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
    with claude.messages.stream(**request) as stream:
        events = list(stream)  # the SDK reads to message_stop: a proper end
        final = stream.get_final_message()
    assert [e.type for e in events][-3:] == ["content_block_stop", "message_delta", "message_stop"]
    text = final.content[0].text
    assert "falcon" not in text and text.startswith("word word")
    assert final.stop_reason == "refusal"
    (row,) = log_rows(two_providers.project)
    assert row.error_code == "guardrail_blocked" and row.guardrails["blocked"] is True
