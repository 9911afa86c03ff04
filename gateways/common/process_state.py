"""What this process keeps in memory between requests, registered in one place, with one reset for tests.

Every module that holds per-process state (the rate limiter's fallback counters and Redis breaker, the
MCP list pages and protocol eras, upstream health as last recorded, in-flight OAuth refreshes, the
playground's runtime, budget-alert marks) registers it here under a name, at import time:

    _pages: dict[Key, Page] = process_state.keep("mcp.list_pages", {})

so the inventory is `names()`, and `reset()` (which `Runtime.reset_process_state` calls) empties all of
it at once: a test starts from a process that has seen nothing, without reaching into private globals.
Values are cleared in place, never replaced, so the modules' own references stay valid.

A leaf module (no imports from the gateways): the modules that own state are themselves imported by
runtime.py, so a registry living there would close an import cycle.
"""

from __future__ import annotations

from typing import Protocol, TypeVar


class Clearable(Protocol):
    def clear(self) -> None: ...


C = TypeVar("C", bound=Clearable)

_kept: dict[str, Clearable] = {}


def keep(name: str, value: C) -> C:
    """Register `value` (anything with `clear()`) as per-process state named `name`; returns it."""
    if name in _kept and _kept[name] is not value:
        raise ValueError(f"per-process state {name!r} is already registered")
    _kept[name] = value
    return value


def names() -> list[str]:
    """Every registered piece of per-process state, by name (sorted)."""
    return sorted(_kept)


def reset() -> None:
    """Forget everything this process learnt: as if it had just started (tests)."""
    for value in _kept.values():
        value.clear()
