"""The engine, the three-level resolution and the stream hold-back (every split point of the text)."""

from __future__ import annotations

import random

import pytest

from gateways.guardrails.engine import Engine, apply_spans
from gateways.guardrails.resolution import EffectiveRule, resolve
from gateways.guardrails.service import scan_value
from gateways.guardrails.stream import StreamGuard


def rule(name, kind, action="redact", stage="both", level="project", config=None, **kw) -> EffectiveRule:
    base = {
        "pii": {"entities": ["email", "us_ssn"], "placeholders": {}},
        "secrets": None,
        "keywords": {"words": ["falcon", "zeta"], "placeholder": "[KW]"},
    }
    from gateways.guardrails import detectors

    cfg = detectors.validate(kind, config if config is not None else base.get(kind) or {})
    return EffectiveRule(
        name, kind, stage, action, cfg, kw.get("enabled", True), kw.get("locked", False), "", level
    )


def test_resolution_overrides_adds_and_respects_locks():
    glob = [
        rule("pii", "pii", "block", level="global"),
        rule("keys", "secrets", "block", level="global", locked=True),
    ]
    proj = [
        rule("pii", "pii", "redact"),
        rule("keys", "secrets", "warn"),  # locked above: ignored
        rule("words", "keywords", "block"),
    ]
    endpoint = [rule("words", "keywords", "block", level="endpoint", enabled=False)]
    merged = {r.name: r for r in resolve([glob, proj, endpoint])}
    assert (merged["pii"].action, merged["pii"].level, merged["pii"].overrides) == (
        "redact",
        "project",
        ("global",),
    )
    assert (merged["keys"].action, merged["keys"].level) == ("block", "global")
    assert (merged["words"].enabled, merged["words"].overrides) == (False, ("project",))
    engine = Engine(list(merged.values()))
    assert [r.name for r in engine.input] == ["pii", "keys"]


def test_scan_redacts_blocks_and_warns():
    engine = Engine([rule("pii", "pii", "redact"), rule("kw", "keywords", "warn")])
    texts, verdict = engine.scan("input", ["mail a@b.io about falcon", "nothing"])
    assert texts == ["mail [EMAIL] about falcon", "nothing"]
    assert [(h.rule, h.action, h.count) for h in verdict.hits] == [("pii", "redact", 1), ("kw", "warn", 1)]
    assert not verdict.refused
    engine = Engine([rule("kw", "keywords", "block", stage="output")])
    assert not engine.scan("input", ["falcon"])[1].refused
    assert engine.scan("output", ["falcon"])[1].blocked == ["kw"]


def test_detector_failure_fails_closed_unless_warn(monkeypatch):
    engine = Engine([rule("pii", "pii", "block")])

    def boom(text):
        raise RuntimeError("broken")

    monkeypatch.setattr(engine.input[0].detector, "find", boom)
    _, verdict = engine.scan("input", ["hello"])
    assert verdict.refused and verdict.error and verdict.exception().code == "guardrail_error"
    warn = Engine([rule("pii", "pii", "warn")])
    monkeypatch.setattr(warn.input[0].detector, "find", boom)
    _, verdict = warn.scan("input", ["hello"])
    assert not verdict.refused and verdict.hits[0].error


def test_scan_value_walks_json_in_place():
    engine = Engine([rule("pii", "pii", "redact")])
    value = {"to": "a@b.io", "cc": ["c@d.io", 3, None], "nested": {"ssn": "123-45-6789"}}
    verdict = scan_value(engine, "input", value)
    assert value == {"to": "[EMAIL]", "cc": ["[EMAIL]", 3, None], "nested": {"ssn": "[US_SSN]"}}
    assert verdict.value is value and verdict.hits[0].count == 3
    assert scan_value(engine, "input", "x@y.io").value == "[EMAIL]"


TEXT = (
    "Hello, reach me at jane.doe@example.com or 123-45-6789. Falcon is the codename; "
    "key sk-proj-" + "Q" * 30 + " end. "
)


def stream_through(guard: StreamGuard, pieces: list[str]) -> tuple[str, bool]:
    out = []
    for piece in pieces:
        released = guard.feed(piece)
        out.append(released.text)
        if released.blocked:
            return "".join(out), True
    released = guard.flush()
    out.append(released.text)
    return "".join(out), released.blocked


def engine_redacting() -> Engine:
    return Engine(
        [rule("pii", "pii", "redact"), rule("kw", "keywords", "redact"), rule("keys", "secrets", "redact")]
    )


def test_stream_redacts_matches_split_at_every_boundary():
    engine = engine_redacting()
    expected = engine.scan("output", [TEXT])[0][0]
    assert "[EMAIL]" in expected and "[KW]" in expected and "[SECRET]" in expected
    for cut in range(len(TEXT) + 1):
        guard = StreamGuard(engine)
        assert stream_through(guard, [TEXT[:cut], TEXT[cut:]]) == (expected, False), cut
    guard = StreamGuard(engine)
    assert stream_through(guard, list(TEXT)) == (expected, False)
    assert {h.rule: h.count for h in guard.verdict().hits} == {"pii": 2, "kw": 1, "keys": 1}


@pytest.mark.parametrize("size", [1, 3, 7])
def test_stream_block_never_releases_the_match(size):
    engine = Engine([rule("kw", "keywords", "block")])
    text = "x" * 1000 + " the falcon lands " + "y" * 50
    pieces = [text[i : i + size] for i in range(0, len(text), size)]
    out, blocked = stream_through(StreamGuard(engine), pieces)
    assert blocked and "falcon" not in out and out == text[: len(out)]


def test_stream_holds_an_open_private_key_until_its_end():
    engine = Engine([rule("keys", "secrets", "redact")])
    key = "-----BEGIN PRIVATE KEY-----\n" + "\n".join(["A" * 64] * 40) + "\n-----END PRIVATE KEY-----"
    text = "before " + key + " after"
    out, _ = stream_through(StreamGuard(engine), [text[i : i + 10] for i in range(0, len(text), 10)])
    assert out == "before [SECRET] after"


def test_stream_max_size_cuts_and_word_boundaries_hold():
    engine = Engine([rule("size", "max_size", "block", config={"max_chars": 20})])
    out, blocked = stream_through(StreamGuard(engine), ["0123456789", "0123456789", "x"])
    assert blocked and out == "0123456789" * 2
    engine = Engine([rule("kw", "keywords", "block")])
    assert stream_through(StreamGuard(engine), ["the falc", "onry is fine"]) == (
        "the falconry is fine",
        False,
    )


def _merged_by_rule(text: str, spans: list[tuple[int, int, str]]) -> str:
    """The merge rule spelled out: by start, the longer of two at one start first; a span that overlaps
    a kept one widens the replaced range and keeps the kept one's placeholder."""
    out, pos = [], 0
    for start, end, placeholder in sorted(spans, key=lambda s: (s[0], -s[1])):
        if start < pos:
            pos = max(pos, end)
            continue
        out += [text[pos:start], placeholder]
        pos = end
    return "".join([*out, text[pos:]])


def test_overlapping_redactions_merge_into_the_first_the_longer_at_one_start():
    text = "0123456789abcdefghij"
    assert apply_spans(text, [(2, 5, "[A]")]) == "01[A]56789abcdefghij"
    assert apply_spans(text, [(2, 5, "[A]"), (2, 8, "[B]"), (4, 12, "[C]")]) == "01[B]cdefghij"
    assert apply_spans(text, [(10, 12, "[L]"), (0, 1, "[F]")]) == "[F]123456789[L]cdefghij"
    generator = random.Random(16)
    for _ in range(3000):
        spans = []
        for _ in range(generator.randint(2, 6)):
            start = generator.randrange(len(text))
            spans.append((start, generator.randint(start + 1, len(text)), f"[{generator.choice('XYZ')}]"))
        assert apply_spans(text, spans) == _merged_by_rule(text, spans), spans


def test_log_entries_are_new_per_verdict_and_shared_between_rows_with_the_same_verdicts():
    """`record` never writes to an entry once made (rows share them: one pickled copy and one JSON
    encoding per batch); what a request's log shows still adds up its verdicts in order."""
    from gateways.guardrails.verdicts import LOG_KEY, Verdict, header_value, new_hit, record

    def verdict(stage: str, *hits: tuple[str, str, int], note: str = "") -> Verdict:
        made = Verdict(stage, note=note)
        for name, action, count in hits:
            made.hits.append(new_hit((name, "project", "pii", action, stage, count, False)))
            if action == "block":
                made.blocked.append(name)
        return made

    first: dict = {}
    second: dict = {}
    record(first, verdict("input", ("pii", "redact", 2)))
    record(second, verdict("input", ("pii", "redact", 2)))
    assert first[LOG_KEY] is second[LOG_KEY]
    shared = first[LOG_KEY]
    record(first, verdict("output", ("keys", "block", 1), note="output-unchecked:binary"))
    assert second[LOG_KEY] is shared and len(shared["hits"]) == 1 and not shared["blocked"]
    assert first[LOG_KEY] == {
        "blocked": True,
        "hits": [
            {
                "rule": "pii",
                "level": "project",
                "kind": "pii",
                "action": "redact",
                "stage": "input",
                "count": 2,
            },
            {
                "rule": "keys",
                "level": "project",
                "kind": "pii",
                "action": "block",
                "stage": "output",
                "count": 1,
            },
        ],
        "notes": ["output-unchecked:binary"],
    }
    assert header_value(first[LOG_KEY]) == (
        "pii;level=project;stage=input;action=redact;count=2, "
        "keys;level=project;stage=output;action=block;count=1, note=output-unchecked:binary"
    )
    made_elsewhere = {"blocked": False, "hits": [dict(shared["hits"][0])]}
    assert header_value(made_elsewhere) == "pii;level=project;stage=input;action=redact;count=2"
