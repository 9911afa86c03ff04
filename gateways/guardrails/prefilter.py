r"""One RE2 pass per text for every pattern-based rule of a stage: which rules can match it at all.

The pii, secrets and regex detectors each scan a text with their own alternation, so a stage with the
default rule set made three linear passes per text before any verification. `Prefilter` puts every
component pattern of those rules (each pii entity, each secret type, each admin pattern) into one
RE2::Set, whose single DFA pass answers which patterns match somewhere in the text. A rule none of
whose patterns match cannot find anything, so it is skipped; the others run their own `find` as before
(positions, Luhn, mod-97, checksums, boundaries): the verdicts are the same, only the passes are fewer.

A detector may gate only ASCII texts (`prefilter_ascii_only`, the keywords detector: its case folding
and RE2's agree on ASCII only): it runs on every non-ASCII text.

Fails safe: a pattern RE2::Set refuses disables the prefilter (every rule runs), and a sentinel pattern
that matches every text tells a DFA that ran out of memory (an empty answer) from a text nothing matches.
The sentinel is `\z`, which matches once, at the end: `""` matched at every byte, made every DFA state a
match state, and cost ~40% of the pass (bench/results/guardrails-1k-s7.md).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import re2

logger = logging.getLogger(__name__)
NO_PRESENTS: dict[int, tuple[int, ...]] = {}  # shared, never written
Answer = tuple[frozenset[int], dict[int, tuple[int, ...]]]
ANSWERS_KEPT = 4096  # answers remembered per prefilter and kind (few combinations occur in practice)


class Prefilter:
    """For one stage's rules: `candidates(text)` is the set of rule positions that may match `text`
    (rules without patterns, such as keywords, always; None when every rule must run)."""

    def __init__(self, detectors: Sequence[Any]) -> None:
        self.always = frozenset(i for i, d in enumerate(detectors) if not getattr(d, "prefilter", ()))
        # What runs on a non-ASCII text whatever the pass says.
        self.always_unicode = self.always | frozenset(
            i for i, d in enumerate(detectors) if getattr(d, "prefilter_ascii_only", False)
        )
        self.owner: list[int] = [-1]  # Set pattern index → rule position (index 0: the sentinel)
        self.component: list[int] = [-1]  # Set pattern index → its place in the rule's `prefilter`
        # What a set answer (its matched indices, in the order the Set gave them) means, remembered
        # for ASCII and for other texts: the candidate rules and per rule the patterns present.
        self.answers: dict[tuple[int, ...], Answer] = {}
        self.answers_unicode: dict[tuple[int, ...], Answer] = {}
        self.set: Any = None
        self._match: Any = None  # the binding's RE2::Set::Match, bound once
        gated = [(i, d.prefilter) for i, d in enumerate(detectors) if i not in self.always]
        if len(gated) < 2:
            return  # one pattern-based rule scans once anyway: a Set pass would only add one
        options = re2.Options()
        options.log_errors = False
        options.max_mem = 64 << 20  # one DFA for all patterns: room for its states on long texts
        try:
            patterns = re2.Set.SearchSet(options)
            patterns.Add(r"\z")  # index 0, matches every text (at its end): its absence means the pass failed
            for position, components in gated:
                for component, pattern in enumerate(components):
                    patterns.Add(pattern)
                    self.owner.append(position)
                    self.component.append(component)
            patterns.Compile()
        except re2.error:
            logger.warning("guardrail patterns do not fit one RE2 set; each rule scans on its own")
            return
        self.set = patterns
        self._match = patterns._set.Match  # the binding's call: the wrapper only adds an encode

    def candidates(self, text: str) -> frozenset[int] | None:
        return self.scan(text)[0]

    def scan(self, text: str) -> tuple[frozenset[int] | None, dict[int, tuple[int, ...]]]:
        """(`candidates(text)`, per candidate rule with patterns, which of them matched, in their order:
        what a hinted detector's `find(text, present)` takes)."""
        match = self._match
        if match is None:
            return None, NO_PRESENTS
        if text.isascii():
            data, answers = text.encode("ascii"), self.answers
        else:
            try:
                data, answers = text.encode("utf-8"), self.answers_unicode
            except UnicodeEncodeError:
                return None, NO_PRESENTS  # every rule runs, and fails (closed) on the text as it did before
        matched = tuple(match(data))
        answer = answers.get(matched)
        if answer is None:
            if 0 not in matched:
                return None, NO_PRESENTS  # the DFA gave up (out of memory): no answer is not "no match"
            answer = self._answer(matched, self.always if answers is self.answers else self.always_unicode)
            if len(answers) < ANSWERS_KEPT:
                answers[matched] = answer
        return answer

    def _answer(
        self, matched: tuple[int, ...], always: frozenset[int]
    ) -> tuple[frozenset[int], dict[int, tuple[int, ...]]]:
        owner, component = self.owner, self.component
        presents: dict[int, list[int]] = {}
        for i in matched:
            if i:
                presents.setdefault(owner[i], []).append(component[i])
        return always.union(presents), {p: tuple(sorted(c)) for p, c in presents.items()}
