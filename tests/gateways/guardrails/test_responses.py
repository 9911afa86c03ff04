"""Guardrails on /v1/responses through the official openai SDK (`responses.create`, `responses.stream`)
against the mock LLM: OpenAI served natively, Anthropic through translation. Input redaction and refusal
(BadRequestError, code guardrail_blocked), warn, output redaction and content_filter on JSON answers and
SSE streams (what is stored for `previous_response_id` is what the client saw), header and request log."""

from __future__ import annotations

import openai
import pytest

from tests.gateways.guardrails.conftest import add_falcon_rule, add_rule
from tests.helpers import log_rows

pytestmark = pytest.mark.django_db(transaction=True)
MODELS = ["openai:gpt-4o-mini", "anthropic:claude-3-5-haiku"]


def test_input_redaction_reaches_upstream_redacted(gateway, two_providers):
    add_rule(None, name="pii", kind="pii", action="redact", stage="input")
    raw = two_providers.sdk(gateway).responses.with_raw_response.create(
        model="openai:gpt-4o-mini",
        instructions="Answer jane@example.com only.",
        input=[
            {"role": "user", "content": [{"type": "input_text", "text": "I am jane@example.com"}]},
            {"type": "function_call", "call_id": "c1", "name": "mail", "arguments": '{"to": "a@b.io"}'},
            {"type": "function_call_output", "call_id": "c1", "output": "sent to a@b.io"},
        ],
    )
    assert raw.parse().status == "completed"
    sent = two_providers.mock.last().body
    assert sent["instructions"] == "Answer [EMAIL] only."
    assert sent["input"][0]["content"][0]["text"] == "I am [EMAIL]"
    assert sent["input"][1]["arguments"] == '{"to": "[EMAIL]"}'
    assert sent["input"][2]["output"] == "sent to [EMAIL]"
    assert raw.headers["x-promptgate-guardrails"] == "pii;level=global;stage=input;action=redact;count=4"
    (row,) = log_rows(two_providers.project)
    assert row.endpoint == "responses" and row.guardrails["hits"][0]["count"] == 4
    assert "jane" not in str(row.guardrails)


@pytest.mark.parametrize("stream", [False, True])
def test_input_block_is_a_bad_request_error(gateway, two_providers, stream):
    add_rule(two_providers.project, name="keys", kind="secrets", action="block")
    client = two_providers.sdk(gateway)
    with pytest.raises(openai.BadRequestError) as caught:
        if stream:
            with client.responses.stream(model="openai:gpt-4o-mini", input="key AKIAIOSFODNN7EXAMPLE") as s:
                list(s)
        else:
            client.responses.create(model="openai:gpt-4o-mini", input="my key is AKIAIOSFODNN7EXAMPLE")
    error = caught.value
    assert error.status_code == 400 and error.code == "guardrail_blocked"
    assert "keys" in error.message and "AKIA" not in error.message
    assert error.response.headers["x-promptgate-guardrails"].startswith("keys;level=project;stage=input")
    assert two_providers.mock.requests == []  # refused before any upstream call
    (row,) = log_rows(two_providers.project)
    assert row.status == 400 and row.error_code == "guardrail_blocked" and row.guardrails["blocked"] is True


def test_warn_only_records(gateway, two_providers):
    add_falcon_rule(two_providers.project, action="warn")
    response = two_providers.sdk(gateway).responses.create(
        model="openai:gpt-4o-mini", input="tell me about Falcon"
    )
    assert "Falcon" in response.output_text  # the mock echoes; nothing changed
    (row,) = log_rows(two_providers.project)
    assert [(h["rule"], h["stage"], h["count"]) for h in row.guardrails["hits"]] == [
        ("words", "input", 1),
        ("words", "output", 1),
    ]


@pytest.mark.parametrize("model", MODELS)
def test_output_redaction_and_content_filter_json(gateway, two_providers, model):
    add_rule(two_providers.project, name="pii", kind="pii", action="redact", stage="output")
    add_falcon_rule(two_providers.project, stage="output")
    client = two_providers.sdk(gateway)
    two_providers.mock.script("Write to bob@example.org please.", "The falcon has landed.")
    first = client.responses.create(model=model, input="hi")
    assert first.output_text == "Write to [EMAIL] please." and first.status == "completed"
    assert client.responses.retrieve(first.id).output_text == "Write to [EMAIL] please."  # as stored
    second = client.responses.create(model=model, input="hi")
    assert second.status == "incomplete" and second.incomplete_details.reason == "content_filter"
    assert second.output == [] and "falcon" not in second.model_dump_json()
    rows = [row for row in log_rows(two_providers.project, 3) if row.endpoint == "responses"]
    assert rows[1].guardrails["blocked"] is True and rows[1].error_code == "guardrail_blocked"


@pytest.mark.parametrize("model", MODELS)
def test_stream_output_redacted_across_chunks(gateway, two_providers, model):
    add_rule(two_providers.project, name="pii", kind="pii", action="redact", stage="output")
    # The mock streams word by word: the card number arrives split over 4 deltas.
    two_providers.mock.script("Mail bob@example.org or card 4111 1111 1111 1111 ssn 123-45-6789 done")
    client = two_providers.sdk(gateway)
    with client.responses.stream(model=model, input="hi") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    expected = "Mail [EMAIL] or card [CREDIT_CARD] ssn [US_SSN] done"
    assert "".join(deltas) == expected
    assert final.output_text == expected and final.status == "completed"
    assert client.responses.retrieve(final.id).output_text == expected  # stored as the client saw it
    row = next(row for row in log_rows(two_providers.project, 2) if row.endpoint == "responses")
    assert row.guardrails["hits"][0]["count"] == 3 and row.status == 200


@pytest.mark.parametrize("model", MODELS)
def test_stream_block_ends_with_incomplete_content_filter(gateway, two_providers, model):
    add_falcon_rule(two_providers.project, stage="output")
    two_providers.mock.script("word " * 200 + "the falcon " + "more " * 50)
    with two_providers.sdk(gateway).responses.stream(model=model, input="hi") as stream:
        events = list(stream)  # the SDK reads to the end of the stream: a proper end
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert "falcon" not in text and text.startswith("word word")
    last = events[-1]
    assert last.type == "response.incomplete"
    assert last.response.incomplete_details.reason == "content_filter"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    (row,) = log_rows(two_providers.project)
    assert row.error_code == "guardrail_blocked" and row.guardrails["blocked"] is True
