"""Guardrails on /v1/chat/completions through the official openai SDK against the mock LLM upstream:
input redaction and refusal (BadRequestError, code guardrail_blocked), output redaction and
content_filter on JSON answers and SSE streams, the response header and the request log."""

from __future__ import annotations

import openai
import pytest

from tests.gateways.guardrails.conftest import add_falcon_rule, add_rule
from tests.helpers import log_rows

pytestmark = pytest.mark.django_db(transaction=True)
MODEL = "openai:gpt-4o-mini"


def test_input_redaction_reaches_upstream_redacted(gateway, ai_world):
    add_rule(None, name="pii", kind="pii", action="redact", stage="input")
    client = ai_world.sdk(gateway)
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "I am jane@example.com, SSN 123-45-6789"}]},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "f", "arguments": '{"to": "a@b.io"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "sent to a@b.io"},
        ],
    )
    completion = raw.parse()
    assert completion.choices[0].message.content
    sent = ai_world.mock.last().body["messages"]
    assert sent[1]["content"][0]["text"] == "I am [EMAIL], SSN [US_SSN]"
    assert sent[2]["tool_calls"][0]["function"]["arguments"] == '{"to": "[EMAIL]"}'
    assert sent[3]["content"] == "sent to [EMAIL]"
    assert raw.headers["x-promptgate-guardrails"] == "pii;level=global;stage=input;action=redact;count=4"
    (row,) = log_rows(ai_world.project)
    assert row.guardrails == {
        "blocked": False,
        "hits": [
            {
                "rule": "pii",
                "level": "global",
                "kind": "pii",
                "action": "redact",
                "stage": "input",
                "count": 4,
            }
        ],
    }
    assert "jane" not in str(row.guardrails)


def test_input_block_is_a_bad_request_error(gateway, ai_world):
    add_rule(ai_world.project, name="keys", kind="secrets", action="block")
    client = ai_world.sdk(gateway)
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "my key is AKIAIOSFODNN7EXAMPLE"}]
        )
    error = caught.value
    assert error.status_code == 400 and error.code == "guardrail_blocked"
    assert "keys" in error.message and "AKIA" not in error.message
    assert error.response.headers["x-promptgate-guardrails"].startswith(
        "keys;level=project;stage=input;action=block"
    )
    assert ai_world.mock.requests == []  # refused before any upstream call
    (row,) = log_rows(ai_world.project)
    assert row.status == 400 and row.error_code == "guardrail_blocked" and row.guardrails["blocked"] is True


def test_warn_only_records(gateway, ai_world):
    add_falcon_rule(ai_world.project, action="warn")
    completion = ai_world.sdk(gateway).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "tell me about Falcon"}]
    )
    assert "Falcon" in completion.choices[0].message.content  # the mock echoes; nothing changed
    (row,) = log_rows(ai_world.project)
    assert [(h["rule"], h["stage"], h["count"]) for h in row.guardrails["hits"]] == [
        ("words", "input", 1),
        ("words", "output", 1),
    ]


def test_output_redaction_and_content_filter_json(gateway, ai_world):
    add_rule(ai_world.project, name="pii", kind="pii", action="redact", stage="output")
    add_falcon_rule(ai_world.project, stage="output")
    client = ai_world.sdk(gateway)
    ai_world.mock.script("Write to bob@example.org please.", "The falcon has landed.")
    first = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert first.choices[0].message.content == "Write to [EMAIL] please."
    assert first.choices[0].finish_reason == "stop"
    second = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert second.choices[0].finish_reason == "content_filter"
    assert not second.choices[0].message.content
    rows = log_rows(ai_world.project, 2)
    assert rows[1].guardrails["blocked"] is True and rows[1].error_code == "guardrail_blocked"


def test_stream_output_redacted_across_chunks(gateway, ai_world):
    add_rule(ai_world.project, name="pii", kind="pii", action="redact", stage="output")
    # The mock streams word by word: the e-mail and the SSN arrive whole, the card split over 4 chunks.
    ai_world.mock.script("Mail bob@example.org or card 4111 1111 1111 1111 ssn 123-45-6789 done")
    stream = ai_world.sdk(gateway).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Mail [EMAIL] or card [CREDIT_CARD] ssn [US_SSN] done"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    (row,) = log_rows(ai_world.project)
    assert row.guardrails["hits"][0]["count"] == 3 and row.status == 200


def test_stream_block_ends_with_content_filter(gateway, ai_world):
    add_falcon_rule(ai_world.project, stage="output")
    ai_world.mock.script("word " * 200 + "the falcon " + "more " * 50)
    stream = ai_world.sdk(gateway).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
    )
    chunks = list(stream)  # the SDK reads to [DONE]: a proper end of stream
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "falcon" not in text and text.startswith("word word")
    assert chunks[-1].choices[0].finish_reason == "content_filter"
    (row,) = log_rows(ai_world.project)
    assert row.error_code == "guardrail_blocked" and row.guardrails["blocked"] is True
