"""Output rules on streams: text is released behind a hold-back window at least as long as the longest
match any output rule can make, so a match split across chunks is still redacted (or blocks) whole.

A scan runs once at least two windows are pending and releases all but the last window, so each
character is scanned about twice however small the chunks. A match that starts inside the released
part is complete (no match is longer than the window) and is released redacted whole; a detector may
also hold text back from where a match is still open (a private key without its END line yet).
Payload rules (max_size, injection, json_schema) judge the text so far (max_size, on every feed) or
all of it (the others, at the end: by then the text is out, so a `block` there ends the stream with
`content_filter` but cannot unsay it; the README says so).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

from gateways.guardrails.detectors.base import Payload, Span
from gateways.guardrails.detectors.max_size import MaxSizeDetector
from gateways.guardrails.engine import OUTPUT, CompiledRule, Engine, apply_spans
from gateways.guardrails.verdicts import Hit, Verdict, record

if TYPE_CHECKING:
    from gateways.common.router import GatewayRequest

# Where a guard's text goes: a choice's content or a tool call's arguments (chat.py), an output item's
# part (responses.py), a content block (messages.py).
K = TypeVar("K", bound=Hashable)

CONTEXT = 16  # released characters kept so boundaries (\b, lookbehinds) see what came before


@dataclass(slots=True)
class Released:
    text: str
    blocked: bool = False


@dataclass
class StreamGuard:
    engine: Engine
    stage: str = OUTPUT
    pending: str = ""
    context: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    errors: set[str] = field(default_factory=set)
    blocked: list[str] = field(default_factory=list)
    whole: list[str] = field(default_factory=list)  # kept only when an end-of-stream payload rule needs it
    chars: int = 0

    def __post_init__(self) -> None:
        rules = self.engine.rules(self.stage)
        self.span_rules: list[CompiledRule] = [r for r in rules if r.spans]
        self.span_positions = [i for i, r in enumerate(rules) if r.spans]  # for Engine.candidates
        self.size_rules = [r for r in rules if isinstance(r.detector, MaxSizeDetector)]
        self.end_rules = [r for r in rules if not r.spans and not isinstance(r.detector, MaxSizeDetector)]
        self.window = max((int(r.detector.max_match) for r in self.span_rules), default=0)
        self.rules_by_name = {r.name: r for r in rules}

    @property
    def active(self) -> bool:
        return bool(self.span_rules or self.size_rules or self.end_rules)

    def feed(self, text: str) -> Released:
        if self.blocked:
            return Released("", True)
        self.chars += len(text)
        if self.end_rules:
            self.whole.append(text)
        if self.size_rules and self._check_size():
            return Released("", True)
        if not self.span_rules:
            return Released(text)
        self.pending += text
        if len(self.pending) < 2 * self.window:
            return Released("")
        return self._scan(final=False)

    def flush(self) -> Released:
        """End of the stream: release what is held (redacted), run the end-of-stream rules."""
        if self.blocked:
            return Released("", True)
        released = self._scan(final=True) if self.span_rules and self.pending else Released("")
        if released.blocked:
            return released
        if self.end_rules:
            payload = Payload(("".join(self.whole),))
            for rule in self.end_rules:
                self._count(rule, lambda r=rule: int(r.detector.count(payload)))
        return Released(released.text, bool(self.blocked))

    def verdict(self) -> Verdict:
        verdict = Verdict(self.stage, blocked=list(self.blocked), error=bool(self.errors & set(self.blocked)))
        for name, count in self.counts.items():
            rule = self.rules_by_name[name]
            verdict.hits.append(Hit(rule.name, rule.level, rule.kind, rule.action, self.stage, count))
        for name in sorted(self.errors):
            rule = self.rules_by_name[name]
            verdict.hits.append(Hit(rule.name, rule.level, rule.kind, rule.action, self.stage, 0, True))
        return verdict

    # --- internals ---

    def _count(self, rule: CompiledRule, run: object) -> int:
        try:
            count = run()  # type: ignore[operator]  # a detector's bound check: callable
        except Exception:  # noqa: BLE001 - fail closed, as Engine.scan does
            self.errors.add(rule.name)
            if rule.action != "warn" and rule.name not in self.blocked:
                self.blocked.append(rule.name)
            return 0
        if count:
            self.counts[rule.name] = self.counts.get(rule.name, 0) + count
            if rule.action == "block" and rule.name not in self.blocked:
                self.blocked.append(rule.name)
        return count

    def _check_size(self) -> bool:
        for rule in self.size_rules:
            detector = rule.detector
            if rule.name in self.counts:
                continue
            over = detector.max_chars is not None and self.chars > detector.max_chars
            over = over or (detector.max_tokens is not None and (self.chars + 3) // 4 > detector.max_tokens)
            if over:
                self._count(rule, lambda: 1)
        return bool(self.blocked)

    def _scan(self, final: bool) -> Released:
        text = self.context + self.pending
        offset = len(self.context)
        found: list[tuple[CompiledRule, Span]] = []
        boundary = len(text) if final else len(text) - self.window
        may = self.engine.candidates(self.stage, text)  # one RE2 pass: the pattern rules that can match
        for position, rule in zip(self.span_positions, self.span_rules, strict=True):
            spans: Sequence[Span] = ()

            def run(r: CompiledRule = rule) -> int:
                nonlocal spans
                spans = r.detector.find(text)
                return 0

            if may is None or position in may:
                self._count(rule, run)
                found.extend((rule, s) for s in spans if s.end > offset and s.start >= offset)
            if not final:
                opened = rule.detector.open_at(text)
                if opened is not None:
                    boundary = min(boundary, opened)
        if self.blocked and self.errors:
            return Released("", True)
        # Spans starting before the boundary are complete: take them whole (this may settle more).
        settled: list[tuple[CompiledRule, Span]] = []
        changed = True
        while changed:
            changed = False
            for item in found:
                if item not in settled and item[1].start < boundary:
                    settled.append(item)
                    if item[1].end > boundary:
                        boundary = item[1].end
                        changed = True
        boundary = max(boundary, offset)
        redact: list[Span] = []
        for rule, span in settled:
            self.counts[rule.name] = self.counts.get(rule.name, 0) + 1
            if rule.action == "block" and rule.name not in self.blocked:
                self.blocked.append(rule.name)
            elif rule.action == "redact":
                redact.append(Span(span.start - offset, span.end - offset, span.placeholder))
        if self.blocked:
            return Released("", True)
        cut = boundary - offset
        out = self.pending[:cut]
        released = apply_spans(out, redact) if redact else out
        self.context = (self.context + out)[-CONTEXT:]
        self.pending = self.pending[cut:]
        return Released(released)


class StreamGuards(Generic[K]):
    """The hold-back guards of one answer stream, keyed by where their text goes (a choice's content, a
    tool call's arguments, an output item's text, a content block), and their merged verdict. The
    per-API stream classes (chat.py, responses.py, messages.py) subclass it."""

    def __init__(self, greq: GatewayRequest, engine: Engine) -> None:
        self.greq = greq
        self.engine = engine
        self.guards: dict[K, StreamGuard] = {}
        self.flushed: set[K] = set()
        self.ended = False

    @classmethod
    def open(cls, greq: GatewayRequest, engine: Engine) -> Self | None:
        """The stream's guards, or None when no output rule applies (the stream passes untouched)."""
        return cls(greq, engine) if engine.active(OUTPUT) else None

    def guard(self, key: K) -> StreamGuard:
        guard = self.guards.get(key)
        if guard is None:
            guard = self.guards[key] = StreamGuard(self.engine)
        return guard

    def flush(self, key: K) -> Released:
        """Release what `key`'s guard holds, once (end-of-stream rules must not count twice)."""
        if key in self.flushed or key not in self.guards:
            return Released("")
        self.flushed.add(key)
        return self.guards[key].flush()

    def unflushed(self) -> list[K]:
        return [key for key in self.guards if key not in self.flushed]

    def refuse(self) -> None:
        """A rule refused mid-stream: no more output; the verdict and its error code go to the log."""
        self.ended = True
        self.greq.log["error_code"] = self.record().exception().code

    def record(self) -> Verdict:
        merged = Verdict(OUTPUT)
        for guard in self.guards.values():
            verdict = guard.verdict()
            merged.hits.extend(verdict.hits)
            merged.blocked.extend(n for n in verdict.blocked if n not in merged.blocked)
            merged.error = merged.error or verdict.error
        merged.hits = _combine(merged.hits)
        record(self.greq.log, merged)
        return merged


class EventStreamGuards(StreamGuards[K]):
    """The guards of a stream of typed events (responses.py, messages.py): a batch in, a batch out, one
    event at a time through `_event`. (Chat completions stream chunks instead: chat.py.)"""

    def process(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A batch of events in, what the client may see out (nothing more once `ended`)."""
        out: list[dict[str, Any]] = []
        for event in events:
            if self.ended:
                break
            out.extend(self._event(event))
        return out

    def finish(self) -> None:
        """The upstream stream ended normally: the verdict goes to the log."""
        if not self.ended:
            self.record()

    def _event(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        raise NotImplementedError


def _combine(hits: list[Hit]) -> list[Hit]:
    by_rule: dict[tuple[str, bool], Hit] = {}
    for hit in hits:
        key = (hit.rule, hit.error)
        by_rule[key] = hit._replace(count=by_rule[key].count + hit.count) if key in by_rule else hit
    return list(by_rule.values())
