"""An upstream SSE stream split at every byte boundary, through the OpenAI stream translator and the chat
output guard: the client's text is always the whole answer redacted, and a block always ends with one
content_filter chunk before anything of the match went out."""

from __future__ import annotations

import json
from types import SimpleNamespace

from gateways.ai.providers.openai import OpenAIStreamTranslator
from gateways.guardrails import detectors
from gateways.guardrails.chat import ChatStream
from gateways.guardrails.engine import Engine
from gateways.guardrails.resolution import EffectiveRule
from tests import mock_llm_formats as f

ANSWER = "Reach jane.doe@example.com, or call (555) 123-4567; the falcon sleeps. Card 4111 1111 1111 1111 ok"


def rule(name: str, kind: str, action: str, config: dict) -> EffectiveRule:
    return EffectiveRule(
        name, kind, "output", action, detectors.validate(kind, config), True, False, "", "project"
    )


def sse(reply: f.Reply) -> bytes:
    frames = [f"data: {json.dumps(c)}\n\n" for c in f.openai_chunks("m", reply, False)]
    return ("".join(frames) + "data: [DONE]\n\n").encode()


def run(engine: Engine, pieces: list[bytes]) -> tuple[str, list[str | None], str]:
    translator = OpenAIStreamTranslator("openai")
    guard = ChatStream(SimpleNamespace(log={}), engine)
    out: list[dict] = []
    for piece in pieces:
        for chunk in translator.feed(piece):
            out.extend(guard.process(chunk))
        if guard.ended:
            break
    if not guard.ended:
        for chunk in translator.finish():
            out.extend(guard.process(chunk))
        out.extend(guard.finish())
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in out if c.get("choices"))
    arguments = "".join(
        (call.get("function") or {}).get("arguments") or ""
        for c in out
        if c.get("choices")
        for call in c["choices"][0]["delta"].get("tool_calls") or ()
    )
    return text, [c["choices"][0]["finish_reason"] for c in out if c.get("choices")], arguments


def splits(raw: bytes) -> list[list[bytes]]:
    return [[raw[:cut], raw[cut:]] for cut in range(len(raw) + 1)]


def test_redaction_at_every_byte_boundary():
    engine = Engine(
        [rule("pii", "pii", "redact", {}), rule("words", "keywords", "redact", {"words": ["falcon"]})]
    )
    raw = sse(f.Reply(ANSWER))
    expected = engine.scan("output", [ANSWER])[0][0]
    assert "[EMAIL]" in expected and "[PHONE]" in expected and "[CREDIT_CARD]" in expected
    for pieces in splits(raw):
        text, reasons, _ = run(engine, pieces)
        assert text == expected, pieces
        assert reasons[-1] == "stop"
    byte_by_byte = [raw[i : i + 1] for i in range(len(raw))]
    assert run(engine, byte_by_byte)[0] == expected


def test_tool_call_arguments_redacted_at_every_byte_boundary():
    engine = Engine([rule("pii", "pii", "redact", {})])
    raw = sse(f.Reply(None, "send_mail", {"to": "jane.doe@example.com", "body": "hello there"}))
    for pieces in splits(raw):
        _, reasons, arguments = run(engine, pieces)
        assert json.loads(arguments) == {"to": "[EMAIL]", "body": "hello there"}
        assert reasons[-1] == "tool_calls"


def test_block_at_every_split_ends_with_content_filter():
    engine = Engine([rule("words", "keywords", "block", {"words": ["falcon"]})])
    answer = "lorem " * 12 + ANSWER  # long enough that text is released before the match arrives
    raw = sse(f.Reply(answer))
    released = set()
    for pieces in splits(raw):
        text, reasons, _ = run(engine, pieces)
        assert "falcon" not in text and reasons[-1] == "content_filter", pieces
        assert answer.startswith(text)
        released.add(len(text))
    assert max(released) > 60
