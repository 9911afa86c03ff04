"""What every detector implements: span detectors find (and may redact) matches, payload detectors judge
the payload as a whole (size, injection score, schema) and can only block or warn."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from re import _parser as sre_parse  # type: ignore[attr-defined]  # stdlib; only to bound match widths
from typing import Any, NamedTuple

import re2

UNBOUNDED = 1 << 30


class ConfigError(ValueError):
    """A rule's config is invalid; the message is shown to whoever saved it."""


class Span(NamedTuple):
    """A match to redact (a tuple: made per match, so made cheaply)."""

    start: int
    end: int
    placeholder: str


# Span((start, end, placeholder)) without the named tuple's Python-level __new__ (per match: ~3,000
# instructions against ~500).
new_span = partial(tuple.__new__, Span)


@dataclass(frozen=True, slots=True)
class Payload:
    """What payload detectors see: every text of one direction, and how many messages held them."""

    texts: tuple[str, ...]
    messages: int = 0


class SpanDetector:
    """Finds matches in one text. `max_match` bounds a match's length (the stream hold-back needs it)."""

    redactable = True
    max_match = 0
    # True: `find` answers its spans by start, none overlapping (one leftmost-first search, each match
    # verified or narrowed within itself): the engine then redacts them without sorting.
    ordered = False
    # RE2 patterns (flags inline) of which one matches somewhere in every text `find` finds anything
    # in: the engine's Prefilter skips the detector on a text none of them matches. Empty: never skipped.
    prefilter: tuple[str, ...] = ()
    # True: `prefilter` only speaks for ASCII texts; the detector runs on every other text.
    prefilter_ascii_only = False
    # True: `find(text, present)` takes which of its `prefilter` patterns matched the text (their
    # positions, in order), so it can search for those only.
    hinted = False

    def find(self, text: str) -> list[Span]:
        raise NotImplementedError

    def open_at(self, text: str) -> int | None:
        """Where a match that may still be growing starts (held back on streams); None when none does."""
        return None


class PayloadDetector:
    redactable = False
    max_match = 0

    def count(self, payload: Payload) -> int:
        raise NotImplementedError


Detector = SpanDetector | PayloadDetector


def pattern_width(pattern: str, flags: int = 0) -> int:
    """Longest text a pattern can match (UNBOUNDED for `+`, `*`, or what Python's parser cannot read)."""
    try:
        return min(int(sre_parse.parse(pattern, flags).getwidth()[1]), UNBOUNDED)
    except Exception:  # noqa: BLE001 - syntax Python does not read (\pN, …): the caller's bound applies
        return UNBOUNDED


def check_keys(config: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(config, dict):
        raise ConfigError("config must be a JSON object")
    unknown = sorted(set(config) - allowed)
    if unknown:
        raise ConfigError(
            f"unknown config keys: {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})"
        )
    return dict(config)


def placeholder(config: dict[str, Any], default: str) -> str:
    value = config.get("placeholder", default)
    if not isinstance(value, str) or len(value) > 100:
        raise ConfigError("placeholder must be a string of at most 100 characters")
    return value


def re2_compile(pattern: str, case_insensitive: bool = False) -> Any:
    """An RE2 pattern (google-re2): linear-time matching, one pass for a whole alternation."""

    options = re2.Options()
    options.log_errors = False
    options.case_sensitive = not case_insensitive
    return re2.compile(pattern, options)


def re2_spans(pattern: Any, text: str) -> Iterator[tuple[int, int, int]]:
    """(start, end, index of the first group that took part) of each match, in character offsets.

    For ASCII text this calls the binding's RE2::Match directly: the Python wrapper's generator and
    match objects cost more than the matching itself on a short text (measured: ~7 µs of ~10 µs).
    """
    if not text.isascii():
        for m in pattern.finditer(text):
            spans = [m.span(i) for i in range(pattern.groups + 1)]
            yield m.start(), m.end(), next((i for i in range(1, len(spans)) if spans[i][0] >= 0), 0)
        return

    data = text.encode("ascii")
    match = pattern._regexp.Match
    unanchored = re2._Anchor.UNANCHORED
    pos, end = 0, len(data)
    while pos <= end:
        spans = match(unanchored, data, pos, end)
        start, stop = spans[0]
        if start < 0:
            return
        group = 0
        for index in range(1, len(spans)):
            if spans[index][0] >= 0:
                group = index
                break
        yield start, stop, group
        pos = stop if stop > start else stop + 1


_UNANCHORED = re2._Anchor.UNANCHORED
ASSERTIONS = ("\\b", "\\B", "^", "$", "\\A", "\\z")


class Alternatives:
    """An RE2 alternation of patterns whose matches say which alternative found them, without asking
    RE2 for capture groups: on a short text the groups cost more than the search (RE2 runs its NFA over
    the match for them; measured ~1.5 µs of ~2.2 µs per match on the pii alternation).

    `spans(text)` answers what `re2_spans` answers for the alternation with one group per pattern: the
    match from a group-less DFA search, then its alternative from one anchored RE2::Set pass over the
    text from the match's start (leftmost-first picks the first alternative that matches there at all).
    The set sees the text from the match on, so patterns may not hold assertions that look before it.

    `marks` skips that set pass where a byte tells: `marks[i]` is a byte that every match of pattern i
    holds and no match of another pattern can (`b"@"` for e-mail among numbers); a match without any
    mark when only one unmarked pattern is left is that pattern's. Measured in the server, each call
    into the binding costs a few µs more than in a loop (cold caches), so calls saved count.
    """

    def __init__(
        self, patterns: Sequence[str], marks: Sequence[bytes | None] = (), required: bytes = b""
    ) -> None:
        if any(a in p for p in patterns for a in ASSERTIONS):
            raise ValueError("Alternatives patterns may not hold assertions (\\b, ^, $, …)")
        self.grouped = re2_compile("|".join(f"({p})" for p in patterns))
        self.search = re2_compile("|".join(f"(?:{p})" for p in patterns))
        self._match = self.search._regexp.Match  # the binding's RE2::Match, bound once
        marks = list(marks) + [None] * (len(patterns) - len(marks))
        self.marks = [(mark, i + 1) for i, mark in enumerate(marks) if mark]
        unmarked = [i + 1 for i, mark in enumerate(marks) if not mark]
        self.unmarked = unmarked[0] if len(unmarked) == 1 else 0  # the group of the only unmarked one
        self._starts: Any = None
        self._patterns = tuple(patterns)
        # Bytes of which every match of every pattern holds one: once none is left after a match, no
        # further match can start there, so the search that would walk the rest of the text is skipped.
        table = bytearray(range(256))
        table[0] = 1  # NUL stands for "a required byte" below, so a NUL of the text stands for nothing
        for byte in required:
            table[byte] = 0
        self.required = bytes(table) if required else b""  # bytes.translate: every required byte → NUL

    @property
    def starts(self) -> Any:
        """The anchored RE2::Set that tells which alternative a match is (built on first need)."""
        if self._starts is None:
            options = re2.Options()
            options.log_errors = False
            starts = re2.Set.MatchSet(options)
            for pattern in self._patterns:
                starts.Add(pattern)
            starts.Compile()
            self._starts = starts._set
        return self._starts

    def spans(self, text: str) -> list[tuple[int, int, int]]:
        """(start, end, 1 + index of the alternative) of each match, in character offsets."""
        if not text.isascii():
            return list(re2_spans(self.grouped, text))

        data = text.encode("ascii")
        search = self._match
        unanchored = _UNANCHORED
        marks, required = self.marks, self.required
        out = []
        pos, end = 0, len(data)
        last = end  # where the last required byte is (known after the first match)
        while pos <= end:
            start, stop = search(unanchored, data, pos, end)[0]
            if start < 0:
                break
            group = 0
            for mark, marked in marks:
                if data.find(mark, start, stop) >= 0:
                    group = marked
                    break
            out.append((start, stop, group or self.unmarked or self._group(data, start, end)))
            pos = stop if stop > start else stop + 1
            if required:
                if last == end:
                    last = data.translate(required).rfind(b"\0")
                if pos > last:
                    break
        return out

    def _group(self, data: bytes, start: int, end: int) -> int:
        """The alternative of a match no mark names: the anchored set, or capture groups."""
        matched = self.starts.Match(data[start:])
        if matched:
            return int(min(matched)) + 1
        # The set's DFA gave up: ask for the groups at this match.
        spans = self.grouped._regexp.Match(re2._Anchor.ANCHOR_START, data, start, end)
        return next((i for i in range(1, len(spans)) if spans[i][0] >= 0), 0)
