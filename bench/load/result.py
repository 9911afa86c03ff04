"""What one load run measured, whichever generator ran it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class LoadResult:
    requests: int = 0
    seconds: float = 0.0
    rps: float = 0.0
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    errors: int = 0  # socket errors, timeouts and non-2xx answers
    overhead_ms: float | None = None  # mean X-PromptGate-Overhead-Ms, when the target sends it
    statuses: dict[int, int] = field(default_factory=dict)
    tool: str = ""
    note: str = ""


@dataclass(frozen=True)
class Target:
    """One HTTP request shape, fired over and over."""

    url: str
    method: str = "GET"
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
