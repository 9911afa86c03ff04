"""One measurement: fire a target with the right runner and read the server's CPU and RSS around it."""

from __future__ import annotations

import time
from dataclasses import dataclass

from bench.load import pyload, stream, wrk
from bench.load.result import LoadResult, Target
from bench.procs import CpuLedger, cpu_seconds, rss_mb


@dataclass
class Row:
    scenario: str
    side: str  # "direct" | "bare-proxy" | "promptgate" | "litellm"
    config: str  # "mock", "sqlite-1w", "pg-2w", "litellm-1w", …
    connections: int
    load: LoadResult | None = None
    stream: stream.StreamResult | None = None
    cpu_ms_per_req: float | None = None  # the server's processes (not the load generator, not the mock)
    rss_mb: float | None = None
    note: str = ""  # why nothing was measured, or a warning (errors, fallback runner)
    attempt: int = 1
    machine_cores_busy: float | None = None  # every process on the machine, averaged over the run
    cores: dict[str, float] | None = None  # the same, by role (CpuLedger): gateway, mocks, PostgreSQL, ...

    @property
    def rps(self) -> float:
        if self.load is not None:
            return self.load.rps
        return self.stream.streams_per_s if self.stream is not None else 0.0

    @property
    def completed(self) -> int:
        if self.load is not None:
            return self.load.requests
        return self.stream.streams if self.stream is not None else 0


def warm(target: Target, use_wrk: bool) -> None:
    """A short run first: connection pools, caches and lazy imports are not what we measure."""
    if use_wrk:
        wrk.run(target, 8, 1)
    else:
        pyload.run(target, 8, 1)


def run(
    row: Row, target: Target, kind: str, seconds: float, server_pid: int, use_wrk: bool, ledger: CpuLedger
) -> Row:
    before = cpu_seconds(server_pid)
    machine_before, started = ledger.snapshot(), time.monotonic()
    if kind == "stream":
        row.stream = stream.run(target, row.connections, seconds)
        errors = row.stream.errors
    else:
        row.load = (wrk.run if use_wrk else pyload.run)(target, row.connections, seconds)
        errors = row.load.errors
        if row.load.note:
            row.note = row.load.note
    used = cpu_seconds(server_pid) - before
    row.machine_cores_busy, row.cores = ledger.cores_since(machine_before, time.monotonic() - started)
    if row.completed:
        row.cpu_ms_per_req = used * 1000 / row.completed
    row.rss_mb = rss_mb(server_pid)
    if errors:
        row.note = (row.note + f" {errors} errors").strip()
    return row
