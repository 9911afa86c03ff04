"""What a guardrail check decided: the hits (rule, level, kind, action, stage, count; never the matched
text), the refusals they make, and how a verdict is logged and announced in X-PromptGate-Guardrails.

    PromptGateError
     ├── GuardrailBlocked   code guardrail_blocked: a `block` rule matched
     └── GuardrailFailed    code guardrail_error: a detector failed, or a body it had to read could
                            not be parsed, under a rule that may not let it pass (fail closed)
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from promptgate.errors import ErrorCode, PromptGateError

if TYPE_CHECKING:
    from gateways.common.logrows import RequestLogRow

HEADER = "X-PromptGate-Guardrails"
LOG_KEY: Final = "guardrails"  # the RequestLog column (a literal: a key of RequestLogRow)
# JSON-RPC error code for MCP callers (implementation-defined server error range).
JSONRPC_CODE = -32003


class Hit(NamedTuple):
    """One rule's finding (a tuple: made per hit, per request; `new_hit` makes one without the named
    tuple's Python-level __new__)."""

    rule: str
    level: str
    kind: str
    action: str
    stage: str
    count: int  # type: ignore[assignment]  # the field shadows tuple.count, as it should
    error: bool = False


new_hit = partial(tuple.__new__, Hit)  # new_hit((rule, level, kind, action, stage, count, error))


class Verdict:
    """What the rules of one stage decided about one direction's texts (made per scan, so a plain
    class: a dataclass's default factories cost more than the rest of a clean scan)."""

    __slots__ = ("blocked", "error", "hits", "note", "stage", "value")

    def __init__(
        self,
        stage: str,
        hits: list[Hit] | None = None,
        blocked: list[str] | None = None,  # names of the rules that refuse
        error: bool = False,  # a refusal because a detector failed (fail closed)
        value: Any = None,  # check_payload: the (possibly redacted) value
        note: str = "",  # e.g. "skipped: binary body" on the HTTP proxy
    ) -> None:
        self.stage = stage
        self.hits: list[Hit] = [] if hits is None else hits
        self.blocked: list[str] = [] if blocked is None else blocked
        self.error = error
        self.value = value
        self.note = note

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Verdict):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    __hash__ = None  # type: ignore[assignment]  # mutable, as the dataclass it replaces

    def __repr__(self) -> str:
        return f"Verdict({self.stage!r}, hits={self.hits!r}, blocked={self.blocked!r}, error={self.error!r})"

    @property
    def refused(self) -> bool:
        return bool(self.blocked)

    @property
    def redacted(self) -> bool:
        return any(h.action == "redact" and not h.error for h in self.hits)

    def exception(self, status: int = 400) -> GuardrailBlocked | GuardrailFailed:
        if self.error:
            return GuardrailFailed(self, status)
        return GuardrailBlocked(self, status)


def _names(verdict: Verdict) -> str:
    return ", ".join(verdict.blocked)


class GuardrailBlocked(PromptGateError):
    """A `block` rule matched. `jsonrpc_error()` gives MCP callers their JSON-RPC error object."""

    code_name = ErrorCode.GUARDRAIL_BLOCKED

    def __init__(self, verdict: Verdict, status: int = 400) -> None:
        which = "request" if verdict.stage == "input" else "response"
        super().__init__(
            f"The {which} was blocked by guardrail rules: {_names(verdict)}",
            code=self.code_name,
            status=status,
        )
        self.verdict = verdict

    def jsonrpc_error(self) -> dict[str, Any]:
        return {
            "code": JSONRPC_CODE,
            "message": self.message,
            "data": {"code": self.code, "stage": self.verdict.stage, "rules": list(self.verdict.blocked)},
        }


class GuardrailFailed(GuardrailBlocked):
    code_name = ErrorCode.GUARDRAIL_ERROR

    def __init__(self, verdict: Verdict, status: int = 400) -> None:
        super().__init__(verdict, status)
        self.message = f"Guardrail rules could not check the {'request' if verdict.stage == 'input' else 'response'} and refuse it: {_names(verdict)}"


# A request's log entry is never written once made: `record` makes a new one per verdict, and keeps the
# entries it made (by what they came from), so the same verdicts give the same entry object. Pickled in
# one batch, a shared entry travels once; its JSON and its header are made once (logrows.py, below).
_ENTRIES: dict[tuple[Any, ...], dict[str, Any]] = {}  # (previous entry's id or 0, verdict) → entry
_KEPT: dict[int, dict[str, Any]] = {}  # id → kept entry (an id names it only while `is` agrees)
_HEADERS: dict[int, str] = {}  # id of a kept entry → its X-PromptGate-Guardrails value
ENTRIES_KEPT = 4096


def _logged(hit: Hit) -> dict[str, Any]:
    """What the log keeps of a hit (never the matched text)."""
    data: dict[str, Any] = {
        "rule": hit.rule,
        "level": hit.level,
        "kind": hit.kind,
        "action": hit.action,
        "stage": hit.stage,
        "count": hit.count,
    }
    if hit.error:
        data["error"] = True
    return data


def record(log: RequestLogRow, verdict: Verdict | None) -> None:
    """Merge a verdict into a request's log row (`RequestLog.guardrails`): a new entry with the
    previous one's hits and the verdict's (entries are shared between rows: nothing writes to one)."""
    if verdict is None or not (verdict.hits or verdict.note):
        return
    before = log.get(LOG_KEY)
    prior = 0 if before is None else id(before)
    known = before is None or _KEPT.get(prior) is before
    key = (prior, bool(verdict.blocked), verdict.note, *verdict.hits)
    entry = _ENTRIES.get(key) if known else None
    if entry is None:
        entry = {
            "blocked": bool(before and before["blocked"]) or bool(verdict.blocked),
            "hits": [*(before["hits"] if before else ()), *map(_logged, verdict.hits)],
        }
        notes = [*(before.get("notes", ()) if before else ()), *([verdict.note] if verdict.note else ())]
        if notes:
            entry["notes"] = notes
        if known and len(_ENTRIES) < ENTRIES_KEPT:
            _ENTRIES[key] = _KEPT[id(entry)] = entry
            _HEADERS[id(entry)] = _header(entry)
    log[LOG_KEY] = entry


def _header(entry: dict[str, Any]) -> str:
    parts = []
    for h in entry.get("hits", ()):
        part = f"{h['rule']};level={h['level']};stage={h['stage']};action={h['action']};count={h['count']}"
        parts.append(part + ";error" if h.get("error") else part)
    for note in entry.get("notes", ()):
        parts.append(f"note={note}")
    return ", ".join(parts)


def header_value(entry: dict[str, Any]) -> str:
    """`rule;stage=input;action=redact;count=2, …` (names never hold commas, semicolons or spaces)."""
    if _KEPT.get(id(entry)) is entry:
        return _HEADERS[id(entry)]
    return _header(entry)
