"""`python -m bench.paired`: two scenarios on ONE running gateway, in alternating short runs, with the
CPU each process of the gateway spent per request.

    .venv/bin/python -m bench.paired --db sqlite --scenarios chat_1k,chat_guard_1k --rounds 10

`bench.run` measures each scenario once per configuration, a few seconds apart; on a machine whose
speed drifts (a shared host: the same run moved ±15% between minutes in session 9), a 15% budget
between two scenarios then reads as noise. Here both scenarios hit the same server, in rounds of one
short run each, so drift cancels in each round's pair; the report gives, per scenario, the median RPS
and CPU µs per request of each process (the serving worker, its request-log process, the webhook
worker), and, per round, the paired difference of the second scenario against the first as quartiles.
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

from bench import stack
from bench.load import wrk
from bench.procs import Processes, descendants
from bench.scenarios import BY_NAME, Context, target

TICKS = os.sysconf("SC_CLK_TCK")


def _ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime, stime


def _name(pid: int) -> str:
    try:
        words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return str(pid)
    text = " ".join(w.decode(errors="replace") for w in words if w)
    for known in ("log_process", "webhook_worker"):
        if known in text:
            return known
    return "gunicorn" if "gunicorn" in text else text[:40]


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    ordered = sorted(values)
    return ordered[len(ordered) // 4], statistics.median(ordered), ordered[(3 * len(ordered)) // 4]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.paired", description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite", choices=["sqlite", "pg"])
    parser.add_argument("--scenarios", default="chat_1k,chat_guard_1k")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    names = args.scenarios.split(",")
    procs = Processes(stack.VAR / "logs")
    rows: dict[str, list[tuple[float, dict[int, float]]]] = {name: [] for name in names}
    labels: dict[int, str] = {}  # read while the processes run
    try:
        ctx = Context(mocks={m: stack.start_mock(procs, f"mock-{m}", m) for m in ("http", "llm", "mcp")})
        config = stack.GatewayConfig(args.db, 1)
        ctx.seed = stack.prepare_database(config, ctx.mocks)
        managed, ctx.gateway_port = stack.start_gateway(procs, config)
        targets = {name: target(BY_NAME[name], "promptgate", ctx) for name in names}
        for name in names:
            wrk.run(targets[name], 8, 2)  # warm: imports, pools, caches, compiled rules
        for _ in range(args.rounds):
            for name in names:
                pids = descendants(managed.pid)
                labels.update((pid, _name(pid)) for pid in pids if pid not in labels)
                before = {pid: _ticks(pid) for pid in pids}
                result = wrk.run(targets[name], args.connections, args.seconds)
                done = max(result.requests, 1)
                per = {pid: (_ticks(pid) - before[pid]) / TICKS / done * 1e6 for pid in pids}
                rows[name].append((result.rps, per))
    finally:
        procs.stop_all()
    print(
        f"# {args.db}, 1 worker, {args.connections} connections, {args.rounds} rounds of {args.seconds} s\n"
    )
    for name in names:
        rps = statistics.median(r for r, _ in rows[name])
        pids = sorted(rows[name][0][1])
        parts = [
            f"{labels.get(pid, pid)} {statistics.median(per.get(pid, 0.0) for _, per in rows[name]):.0f}"
            for pid in pids
            if any(per.get(pid, 0.0) for _, per in rows[name])
        ]
        total = statistics.median(sum(per.values()) for _, per in rows[name])
        print(f"{name}: {rps:,.0f} RPS; CPU µs per request {total:.0f} ({', '.join(parts)})")
    base = names[0]
    for name in names[1:]:
        pairs = list(zip(rows[base], rows[name], strict=True))
        cpu = _quartiles([sum(b[1].values()) - sum(a[1].values()) for a, b in pairs])
        change = _quartiles([100 * (b[0] / a[0] - 1) for a, b in pairs])
        print(
            f"{name} against {base}, paired per round (q1 / median / q3): CPU µs per request "
            f"{cpu[0]:+.0f} / {cpu[1]:+.0f} / {cpu[2]:+.0f}; RPS {change[0]:+.1f}% / {change[1]:+.1f}% / {change[2]:+.1f}%"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
