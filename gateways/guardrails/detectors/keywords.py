"""`keywords`: a deny list matched case-insensitively on word boundaries, in one Aho-Corasick pass over the
text however long the list (pyahocorasick).

The engine's prefilter (prefilter.py) skips the Aho-Corasick pass on an ASCII text in which no word
occurs at all: the detector's `prefilter` is one case-insensitive RE2 alternation of its words, run in
the stage's single RE2 set pass. Only ASCII texts are gated (`prefilter_ascii_only`): on ASCII the
folding here is plain ASCII lower case, which RE2's `(?i)` covers, so the gate never hides a match;
Unicode case folding may differ between Python and RE2, so every non-ASCII text runs the pass.
"""

from __future__ import annotations

from typing import Any

import ahocorasick

from gateways.guardrails.detectors.base import ConfigError, Span, SpanDetector, check_keys, placeholder

MAX_WORDS = 100_000
PREFILTER_CHARS = 64_000  # a longer list is not gated: its alternation would swell the stage's RE2 set


def validate(config: Any) -> dict[str, Any]:
    config = check_keys(config, {"words", "placeholder"})
    words = config.get("words")
    if (
        not isinstance(words, list)
        or not 1 <= len(words) <= MAX_WORDS
        or not all(isinstance(w, str) and w.strip() and len(w) <= 200 for w in words)
    ):
        raise ConfigError(f"words must be a list of 1 to {MAX_WORDS} non-blank strings (≤ 200 characters)")
    return {
        "words": list(dict.fromkeys(w.strip() for w in words)),
        "placeholder": placeholder(config, "[REDACTED]"),
    }


def _fold(text: str) -> str:
    """Lower case with offsets kept (a few characters lower-case to two; those stay as they are)."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _gate(words: list[str]) -> tuple[str, ...]:
    """One RE2 pattern that matches wherever a word occurs in an ASCII text (case-insensitive, no
    boundaries: a superset). Words that are not ASCII once folded cannot occur in an ASCII text."""
    folded = [w for w in dict.fromkeys(_fold(word) for word in words) if w.isascii()]
    if not folded or sum(len(w) for w in folded) > PREFILTER_CHARS:
        return ()
    # Every character as a hex escape: no RE2 syntax in a word can change the pattern.
    escaped = ("".join(c if c.isalnum() else f"\\x{{{ord(c):02x}}}" for c in w) for w in folded)
    return (f"(?i:{'|'.join(escaped)})",)


class KeywordsDetector(SpanDetector):
    prefilter_ascii_only = True

    def __init__(self, config: dict[str, Any]) -> None:
        self.placeholder = config["placeholder"]
        automaton = ahocorasick.Automaton()
        for word in config["words"]:
            folded = _fold(word)
            automaton.add_word(folded, len(folded))
        automaton.make_automaton()
        self.automaton = automaton
        self.max_match = max(len(w) for w in config["words"]) + 1  # + the boundary character after it
        self.prefilter = _gate(config["words"])

    def find(self, text: str) -> list[Span]:
        folded = _fold(text)
        spans: list[Span] = []
        size = len(text)
        for end_index, length in self.automaton.iter(folded):
            start, end = end_index - length + 1, end_index + 1
            if start > 0 and _is_word(text[start - 1]) and _is_word(text[start]):
                continue
            if end < size and _is_word(text[end]) and _is_word(text[end - 1]):
                continue
            spans.append(Span(start, end, self.placeholder))
        return spans


def build(config: dict[str, Any]) -> KeywordsDetector:
    return KeywordsDetector(config)
