"""The guardrail engine of one (project, endpoint): the resolved rules compiled once per config version.

`Engine.scan(stage, texts)` runs every rule of that stage over the texts of one direction and answers
the rewritten texts and a Verdict. Rules see the original texts; redactions of all rules are merged at
the end, so overlapping matches of two rules redact once. A detector that raises refuses under `block`
and `redact` rules (fail closed) and is only recorded under `warn`. Each text is first passed once
through the stage's Prefilter (one RE2 set of every pii, secrets and regex pattern): the pattern rules
that cannot match it are not run on it (prefilter.py).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from gateways.guardrails import detectors
from gateways.guardrails.detectors.base import Payload, Span, SpanDetector
from gateways.guardrails.prefilter import Prefilter
from gateways.guardrails.resolution import EffectiveRule
from gateways.guardrails.verdicts import Verdict, new_hit

logger = logging.getLogger(__name__)

INPUT, OUTPUT = "input", "output"
NOTHING: frozenset[int] = frozenset()
_START_END = itemgetter(0, 1)  # a Span's start and end


@dataclass(frozen=True, slots=True)
class CompiledRule:
    name: str
    level: str
    kind: str
    action: str
    detector: Any
    spans: bool = False  # a span detector (find), not a payload one (count): set from the detector

    def __post_init__(self) -> None:
        object.__setattr__(self, "spans", isinstance(self.detector, SpanDetector))


def apply_spans(text: str, spans: Sequence[Span], ordered: bool = False) -> str:
    """The text with each span replaced by its placeholder; overlapping spans merge into the first (of
    two at one start, the longer). Spans are never empty (detectors drop empty matches). `ordered`:
    the spans are by start and none overlaps (one ordered detector's): no sort, no merge."""
    if len(spans) == 1:
        start, end, placeholder = spans[0]
        return text[:start] + placeholder + text[end:]
    if ordered:
        parts: list[str] = []
        pos = 0
        for start, end, placeholder in spans:
            parts.append(text[pos:start])
            parts.append(placeholder)
            pos = end
        parts.append(text[pos:])
        return "".join(parts)
    out: list[str] = []
    pos = 0
    last, last_end = -1, -1  # the span kept last
    # One stable sort with a C key (start, end): of two at one start the shorter comes first, and the
    # longer then takes its place; of equal spans the first given stays.
    for start, end, placeholder in sorted(spans, key=_START_END):
        if start < pos:
            if start == last and end > last_end:
                out[-1] = placeholder
                last_end = end
            if end > pos:
                pos = end
            continue
        out.append(text[pos:start])
        out.append(placeholder)
        pos = last_end = end
        last = start
    out.append(text[pos:])
    return "".join(out)


class Engine:
    def __init__(self, rules: Sequence[EffectiveRule]) -> None:
        self.input: list[CompiledRule] = []
        self.output: list[CompiledRule] = []
        for rule in rules:
            if not rule.enabled:
                continue
            compiled = CompiledRule(
                str(rule.name),
                str(rule.level),
                str(rule.kind),
                str(rule.action),
                detectors.build(rule.kind, rule.config),
            )
            if rule.stage in (INPUT, "both"):
                self.input.append(compiled)
            if rule.stage in (OUTPUT, "both"):
                self.output.append(compiled)
        prefilter = Prefilter([r.detector for r in self.input])
        if [r.detector for r in self.output] != [r.detector for r in self.input]:
            self.prefilters = {INPUT: prefilter, OUTPUT: Prefilter([r.detector for r in self.output])}
        else:  # the same rules both ways (stage "both"): one RE2 set, one DFA in the CPU's caches
            self.prefilters = {INPUT: prefilter, OUTPUT: prefilter}
        # Per stage, the positions of the rules that run whatever the prefilter says (payload rules).
        self.payload = {
            stage: frozenset(i for i, r in enumerate(self.rules(stage)) if not r.spans)
            for stage in (INPUT, OUTPUT)
        }

    def candidates(self, stage: str, text: str) -> frozenset[int] | None:
        """Positions in `rules(stage)` of the rules that may match `text` (None: all of them)."""
        return self.prefilters[stage].candidates(text)

    def rules(self, stage: str) -> list[CompiledRule]:
        return self.input if stage == INPUT else self.output

    def active(self, stage: str) -> bool:
        return bool(self.input if stage == INPUT else self.output)

    def clear(self, stage: str, text: str) -> bool:
        """True when no rule of `stage` can match `text` alone: no payload rule, and the prefilter rules
        out every pattern rule (the common answer: one set pass, no verdict to make or record)."""
        return not self.payload[stage] and self.prefilters[stage].scan(text)[0] == NOTHING

    def scan(self, stage: str, texts: Sequence[str], messages: int = 0) -> tuple[list[str], Verdict]:
        rules = self.input if stage == INPUT else self.output
        verdict = Verdict(stage)
        if not rules:
            return list(texts), verdict
        prefilter = self.prefilters[stage]
        # Per text: the rules that may match it (None: all) and the prefilter patterns that matched.
        passes = list(map(prefilter.scan, texts))
        run: Any = self.payload[stage]  # the rules that may match some text (range: every rule)
        for candidates, _ in passes:
            if candidates is None:
                run = range(len(rules))
                break
            if candidates:
                run = run | candidates if run else candidates
        if not run:
            return list(texts), verdict
        hits, blocked = verdict.hits, verdict.blocked
        redactions: dict[int, list[Span]] = {}
        unordered: set[int] = set()  # texts whose spans need sorting and merging (see apply_spans)
        for position in sorted(run) if type(run) is frozenset else run:
            rule = rules[position]
            detector = rule.detector
            count = 0
            try:
                if rule.spans:
                    redact = rule.action == "redact"
                    hinted = detector.hinted
                    for index, text in enumerate(texts):
                        if not text:
                            continue
                        candidates, presents = passes[index]
                        if candidates is None:
                            spans = detector.find(text)
                        elif position not in candidates:
                            continue  # none of the rule's patterns occurs in this text
                        elif hinted:
                            spans = detector.find(text, presents.get(position))
                        else:
                            spans = detector.find(text)
                        if spans:
                            count += len(spans)
                            if redact:
                                kept = redactions.get(index)
                                if kept is None:
                                    redactions[index] = spans  # the detector's own new list
                                    if not detector.ordered:
                                        unordered.add(index)
                                else:
                                    kept.extend(spans)
                                    unordered.add(index)
                else:
                    if rule.action == "redact":
                        raise TypeError("payload rules cannot redact")
                    count = int(detector.count(Payload(tuple(texts), messages)))
            except Exception as exc:  # noqa: BLE001 - fail closed; the log names the rule and the error type, no text
                logger.error("guardrail %s (%s) failed: %s", rule.name, rule.kind, type(exc).__name__)
                hits.append(new_hit((rule.name, rule.level, rule.kind, rule.action, stage, 0, True)))
                if rule.action != "warn":
                    blocked.append(rule.name)
                    verdict.error = True
                continue
            if count:
                hits.append(new_hit((rule.name, rule.level, rule.kind, rule.action, stage, count, False)))
                if rule.action == "block":
                    blocked.append(rule.name)
        out = list(texts)
        # Texts nothing redacted stay the same string objects (callers test `is`).
        for index, spans in redactions.items():
            out[index] = apply_spans(out[index], spans, index not in unordered)
        return out, verdict


EMPTY = Engine(())
