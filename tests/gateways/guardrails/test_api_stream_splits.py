"""Upstream Responses and Anthropic event streams split at every byte boundary, through the native
translators and the Responses / Messages output guards: the client's text (deltas, `.done` events, the
final Response) is always the whole answer redacted, tool-call arguments too, and a block always ends the
stream in the API's own shape before anything of the match went out."""

from __future__ import annotations

import json
from types import SimpleNamespace

from gateways.ai.messages_stream import NativeMessages
from gateways.ai.providers.anthropic import ERROR_STATUS
from gateways.ai.responses_stream import NativeResponses
from gateways.guardrails.engine import Engine
from gateways.guardrails.messages import MessagesStream
from gateways.guardrails.responses import ResponsesStream
from tests import mock_llm_formats as f
from tests import mock_llm_responses as r
from tests.gateways.guardrails.test_chat_stream_splits import ANSWER, rule, splits

PII = Engine([rule("pii", "pii", "redact", {}), rule("words", "keywords", "redact", {"words": ["falcon"]})])
BLOCK = Engine([rule("words", "keywords", "block", {"words": ["falcon"]})])
ARGS = {"to": "jane.doe@example.com", "body": "hello there"}


def responses_sse(reply: f.Reply) -> bytes:
    events = r.response_events("m", reply, {"model": "m"})
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events).encode()


def messages_sse(reply: f.Reply) -> bytes:
    return "".join(
        f"event: {n}\ndata: {json.dumps(d)}\n\n" for n, d in f.anthropic_events("m", reply)
    ).encode()


def run(translator, guard, pieces: list[bytes]) -> list[dict]:
    out: list[dict] = []
    for piece in pieces:
        out.extend(guard.process(translator.feed(piece)))
        if guard.ended:
            return out
    out.extend(guard.process(translator.finish()))
    guard.finish()
    return out


def run_responses(engine: Engine, pieces: list[bytes]) -> list[dict]:
    guard = ResponsesStream(SimpleNamespace(log={}), engine)
    return run(NativeResponses("openai", {}), guard, pieces)


def run_messages(engine: Engine, pieces: list[bytes]) -> list[dict]:
    return run(NativeMessages(ERROR_STATUS), MessagesStream(SimpleNamespace(log={}), engine), pieces)


def test_responses_text_redacted_at_every_byte_boundary():
    expected = PII.scan("output", [ANSWER])[0][0]
    assert "[EMAIL]" in expected and "[PHONE]" in expected and "[CREDIT_CARD]" in expected
    for pieces in splits(responses_sse(f.Reply(ANSWER))):
        events = run_responses(PII, pieces)
        deltas = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
        done = next(e for e in events if e["type"] == "response.output_text.done")
        final = events[-1]
        assert deltas == expected and done["text"] == expected, pieces
        assert final["type"] == "response.completed" and r_text(final["response"]) == expected
        assert [e["sequence_number"] for e in events] == list(range(len(events)))


def r_text(response: dict) -> str:
    return "".join(p["text"] for item in response["output"] for p in item.get("content") or ())


def test_responses_arguments_redacted_at_every_byte_boundary():
    for pieces in splits(responses_sse(f.Reply(None, "send_mail", ARGS))):
        events = run_responses(PII, pieces)
        arguments = "".join(
            e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta"
        )
        assert json.loads(arguments) == {"to": "[EMAIL]", "body": "hello there"}
        assert json.loads(events[-1]["response"]["output"][0]["arguments"]) == json.loads(arguments)


def test_responses_block_at_every_byte_boundary():
    for pieces in splits(responses_sse(f.Reply(ANSWER))):
        events = run_responses(BLOCK, pieces)
        deltas = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
        assert "falcon" not in deltas and "falcon" not in json.dumps(events[-1])
        assert events[-1]["type"] == "response.incomplete"
        assert events[-1]["response"]["incomplete_details"] == {"reason": "content_filter"}


def test_messages_text_and_arguments_redacted_at_every_byte_boundary():
    expected = PII.scan("output", [ANSWER])[0][0]
    for pieces in splits(messages_sse(f.Reply(ANSWER))):
        events = run_messages(PII, pieces)
        text = "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta")
        assert text == expected, pieces
        assert [e["type"] for e in events][-3:] == ["content_block_stop", "message_delta", "message_stop"]
    for pieces in splits(messages_sse(f.Reply(None, "send_mail", ARGS))):
        events = run_messages(PII, pieces)
        partial = "".join(e["delta"]["partial_json"] for e in events if e["type"] == "content_block_delta")
        assert json.loads(partial) == {"to": "[EMAIL]", "body": "hello there"}


def test_messages_block_at_every_byte_boundary():
    for pieces in splits(messages_sse(f.Reply(ANSWER))):
        events = run_messages(BLOCK, pieces)
        text = "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta")
        assert "falcon" not in text
        assert events[-2]["delta"]["stop_reason"] == "refusal" and events[-1]["type"] == "message_stop"


def test_streams_without_done_or_stop_events_still_release_everything_redacted():
    """An upstream that skips `.done` (Responses) or `content_block_stop` (Messages): what the guards
    held back goes out before the end, redacted, and the final Response carries the redacted text."""
    expected = PII.scan("output", [ANSWER])[0][0]
    reply = f.Reply(ANSWER)
    events = [
        e
        for e in r.response_events("m", reply, {"model": "m"})
        if not e["type"].endswith(".done") or e["type"] == "response.output_item.done"
    ]
    out = ResponsesStream(SimpleNamespace(log={}), PII).process(events)
    deltas = "".join(e["delta"] for e in out if e["type"] == "response.output_text.delta")
    assert deltas == expected and r_text(out[-1]["response"]) == expected
    kept = [d for n, d in f.anthropic_events("m", reply) if n != "content_block_stop"]
    out = MessagesStream(SimpleNamespace(log={}), PII).process(kept)
    assert "".join(e["delta"]["text"] for e in out if e["type"] == "content_block_delta") == expected
    assert [e["type"] for e in out][-3:] == ["content_block_stop", "message_delta", "message_stop"]


def test_responses_text_that_comes_whole_in_the_final_event_is_still_checked():
    """No deltas at all (the text only in output_item.done and response.completed): redacted there, or
    the stream ends with response.incomplete under a block rule."""
    events = [
        e
        for e in r.response_events("m", f.Reply(ANSWER), {"model": "m"})
        if e["type"] not in ("response.output_text.delta", "response.output_text.done")
    ]
    out = ResponsesStream(SimpleNamespace(log={}), PII).process(json.loads(json.dumps(events)))
    assert r_text(out[-1]["response"]) == PII.scan("output", [ANSWER])[0][0]
    out = ResponsesStream(SimpleNamespace(log={}), BLOCK).process(json.loads(json.dumps(events)))
    assert out[-1]["type"] == "response.incomplete" and "falcon" not in json.dumps(out)
