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


_LOGGED: dict[Hit, dict[str, Any]] = {}  # a hit's log dict, made once per distinct hit (read-only)
_HEADER_PARTS: dict[int, str] = {}  # id of a kept log dict → its part of X-PromptGate-Guardrails
LOGGED_KEPT = 4096


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
    if len(_LOGGED) < LOGGED_KEPT:
        _LOGGED[hit] = data
        # Its header part too, by the dict's id: a kept dict is never freed, so its id names it alone.
        _HEADER_PARTS[id(data)] = _header_part(data)
    return data


def record(log: RequestLogRow, verdict: Verdict | None) -> None:
    """Merge a verdict into a request's log row (`RequestLog.guardrails`). The hit dicts are shared
    between rows (the same hit, the same dict): nothing writes to them once made."""
    if verdict is None or not (verdict.hits or verdict.note):
        return
    entry = log.get(LOG_KEY)
    if entry is None:
        entry = log[LOG_KEY] = {"blocked": False, "hits": []}
    hits = entry["hits"]
    for hit in verdict.hits:
        hits.append(_LOGGED.get(hit) or _logged(hit))
    if verdict.blocked:
        entry["blocked"] = True
    if verdict.note:
        entry.setdefault("notes", []).append(verdict.note)


def _header_part(h: dict[str, Any]) -> str:
    part = f"{h['rule']};level={h['level']};stage={h['stage']};action={h['action']};count={h['count']}"
    return part + ";error" if h.get("error") else part


def header_value(entry: dict[str, Any]) -> str:
    """`rule;stage=input;action=redact;count=2, …` (names never hold commas, semicolons or spaces)."""
    parts = []
    for h in entry.get("hits", ()):
        part = _HEADER_PARTS.get(id(h))
        parts.append(_header_part(h) if part is None else part)
    for note in entry.get("notes", ()):
        parts.append(f"note={note}")
    return ", ".join(parts)
