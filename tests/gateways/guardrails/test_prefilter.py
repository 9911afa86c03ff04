"""The engine's one-pass prefilter (gateways/guardrails/prefilter.py): verdicts and rewritten texts are
the same as with every rule scanning every text, whatever the text; it fails safe."""

from __future__ import annotations

import random

import pytest

from bench import guardrails as default_set
from gateways.guardrails import detectors
from gateways.guardrails.engine import Engine
from gateways.guardrails.prefilter import Prefilter
from gateways.guardrails.resolution import EffectiveRule
from gateways.guardrails.stream import StreamGuard

SAMPLES = [
    "jane.doe@example.com",
    "+1 415 555 0134",
    "4111 1111 1111 1111",
    "4111 1111 1111 1112",  # fails Luhn
    "GB82 WEST 1234 5698 7654 32",
    "123-45-6789",
    "10.0.0.1",
    "fe80::1",
    "sk-ant-api03-" + "a" * 30,
    "sk-" + "b" * 30,
    "AKIAABCDEFGHIJKLMNOP",
    "ghp_" + "c" * 36,
    "eyJabcdef.eyJabcdef.abcdefghijkl",
    "-----BEGIN RSA PRIVATE KEY-----\nabc\n-----END RSA PRIVATE KEY-----",
    "pg_live_" + "e" * 38,
    "TICKET-123456",
    "ticket-654321",
    "INV-2024-12345",
    "password: hunter22",
    "case #123456",
    "CONFIDENTIAL",
    "codename falcon",
    "Forbidden042",
    "naïve café 日本",
    "CODENAME FALCON",
    "Codename Falconer",
    "forbidden4899",
    "STRAẞE forbidden001",
    "K\u212aELVIN forbidden002",
]


def effective(name: str, kind: str, action: str, config: dict | None = None) -> EffectiveRule:
    cfg = detectors.validate(kind, config or {})
    return EffectiveRule(name, kind, "both", action, cfg, True, False, "", "project")


def rules() -> list[EffectiveRule]:
    out = [effective(r["name"], r["kind"], r["action"], r.get("config")) for r in default_set.rules()]
    out.append(effective("tickets", "regex", "warn", {"patterns": [r"ticket-\d+"], "case_insensitive": True}))
    out.append(effective("maybe-empty", "regex", "warn", {"patterns": [r"(?:km)?\d*"]}))  # never skipped
    return out


def texts(seed: int) -> list[str]:
    rand = random.Random(seed)
    words = default_set.FILLER.split()
    out = []
    for _ in range(rand.randrange(1, 4)):
        parts = [rand.choice(SAMPLES) if rand.random() < 0.2 else rand.choice(words) for _ in range(40)]
        out.append(rand.choice([" ", "\n", ", "]).join(parts))
    return out


@pytest.mark.parametrize("seed", range(40))
def test_same_verdicts_and_texts_as_every_rule_on_every_text(seed, monkeypatch):
    engine = Engine(rules())
    given = texts(seed)
    for stage in ("input", "output"):
        with_prefilter = engine.scan(stage, given, messages=len(given))
        with monkeypatch.context() as patched:
            patched.setattr(Prefilter, "scan", lambda self, text: (None, []))
            without = engine.scan(stage, given, messages=len(given))
        assert with_prefilter[0] == without[0]
        assert with_prefilter[1].hits == without[1].hits and with_prefilter[1].blocked == without[1].blocked


@pytest.mark.parametrize("kind", ["pii", "secrets"])
def test_a_gate_matches_wherever_its_pattern_does(kind):
    """pii and secrets gate the prefilter with supersets of their patterns (simpler, so the stage's one
    RE2 set stays small): a text none of whose gates match holds nothing the detector would find."""
    import re2

    from gateways.guardrails.detectors import pii, secrets

    module = {"pii": pii, "secrets": secrets}[kind]
    assert set(module.GATES) == set(module.PATTERNS)
    pieces = [*SAMPLES, "x@y.io", "ghp_" + "d" * 40, "xoxb-" + "1" * 12, "AIza" + "e" * 35, "tok7 tok8"]
    for name, pattern in module.PATTERNS.items():
        gate, full = re2.compile(module.GATES[name]), re2.compile(pattern)
        for piece in pieces:
            for text in (piece, f"see {piece}.", f"({piece})"):
                assert full.search(text) is None or gate.search(text) is not None, (name, text)
    detector = detectors.build(kind, detectors.validate(kind, {}))
    assert any(detector.find(piece) for piece in pieces)  # the samples do hold matches of this kind


def test_rules_whose_patterns_are_absent_are_not_run():
    engine = Engine(rules())
    calls: list[str] = []
    for rule in engine.input:
        find = rule.detector.find
        rule.detector.find = lambda text, *hint, find=find, name=rule.name: (
            calls.append(name) or find(text, *hint)
        )
    out, verdict = engine.scan("input", ["a plain sentence about the weather"])
    assert calls == ["maybe-empty"]  # an empty-width pattern always runs
    assert out == ["a plain sentence about the weather"] and not verdict.hits
    calls.clear()
    engine.scan("input", ["write to jane.doe@example.com"])
    assert calls == ["pii", "maybe-empty"]
    calls.clear()
    engine.scan("input", ["a word of Codename Falconer here"])  # occurs, not on a boundary: still runs
    assert calls == ["denylist", "maybe-empty"]
    calls.clear()
    engine.scan("input", ["the weather in Zürich"])  # not ASCII: keywords run whatever the pass says
    assert calls == ["denylist", "maybe-empty"]


@pytest.mark.parametrize(
    "word, text",
    [
        ("codename falcon", "CODENAME FALCON"),
        ("c++ (beta)", "we ship C++ (Beta) today"),
        ("a.b*c", "x A.B*C y"),
        ("K-9", "unit k-9 here"),
        ("\u212a-9", "unit K-9 here"),  # KELVIN SIGN folds to an ASCII k
        ("tab\tword", "a TAB\tWORD b"),
    ],
)
def test_a_keyword_in_an_ascii_text_is_never_hidden_by_the_pass(word, text):
    engine = Engine(
        [
            effective("deny", "keywords", "block", {"words": [word, "unrelated"]}),
            effective("pii", "pii", "redact"),
        ]
    )
    assert engine.prefilters["input"].candidates(text) == frozenset({0})
    assert engine.scan("input", [text])[1].blocked == ["deny"]
    assert engine.prefilters["input"].candidates("nothing to see") == frozenset()


def test_a_keyword_list_too_long_to_gate_always_runs():
    words = [f"word{i:05d}" + "x" * 20 for i in range(3000)]
    deny = effective("deny", "keywords", "block", {"words": words})
    engine = Engine([deny, effective("pii", "pii", "redact"), effective("keys", "secrets", "block")])
    assert engine.input[0].detector.prefilter == ()
    assert engine.prefilters["input"].candidates("nothing to see") == frozenset({0})
    assert engine.scan("input", [f"a {words[2999].upper()}."])[1].blocked == ["deny"]


def test_a_failed_pass_runs_every_rule(monkeypatch):
    engine = Engine(rules())
    prefilter = engine.prefilters["input"]
    assert prefilter.candidates("nothing here") is not None

    def out_of_memory(data: bytes) -> list[int]:
        return []  # what RE2::Set answers when its DFA gives up: no indices, not even the sentinel

    monkeypatch.setattr(prefilter, "_match", out_of_memory)
    assert prefilter.candidates("nothing here") is None
    out, verdict = engine.scan("input", ["mail jane.doe@example.com"])
    assert out == ["mail [EMAIL]"] and [h.rule for h in verdict.hits] == ["pii"]
    assert engine.scan("input", ["\ud800 broken surrogate"])[1].error  # fails closed, as before


def test_a_private_key_split_across_chunks_is_still_held_back_and_redacted():
    engine = Engine([effective("keys", "secrets", "redact", {"placeholder": "[KEY]"}), *rules()[:1]])
    key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEabc\n-----END RSA PRIVATE KEY-----"
    text = f"here: {key} done"
    for cut in range(1, len(text)):
        guard = StreamGuard(engine)
        released = guard.feed(text[:cut]).text + guard.feed(text[cut:]).text + guard.flush().text
        assert released == "here: [KEY] done", cut


def test_over_several_texts_a_rule_runs_only_on_the_texts_that_may_hold_a_match():
    engine = Engine(rules())
    seen: list[tuple[str, str]] = []
    for rule in engine.input:
        find = rule.detector.find
        rule.detector.find = lambda text, *hint, find=find, name=rule.name: (
            seen.append((name, text)) or find(text, *hint)
        )
    given = ["plain words", "", "mail jane.doe@example.com", "TICKET-123456 and codename falcon"]
    out, verdict = engine.scan("input", given, messages=3)
    assert sorted(set(seen)) == sorted(
        {
            ("pii", given[2]),
            ("ids", given[3]),
            ("tickets", given[3]),
            ("denylist", given[3]),
            *(("maybe-empty", t) for t in given if t),
        }
    )
    assert [h.rule for h in verdict.hits] == ["pii", "ids", "denylist", "tickets", "maybe-empty"]
    assert out[0] is given[0] and out[2] == "mail [EMAIL]"  # untouched texts are the same objects
    assert engine.scan("input", []) == ([], engine.scan("input", [])[1])
