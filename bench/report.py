"""The report: machine facts, one table per scenario, the targets of issue 9 with pass or fail."""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import litellm, memory, portkey
from bench.measure import Row
from bench.scenarios import BY_NAME, SCENARIOS
from bench.targets import Verdict

NA = "\N{EN DASH}"  # an empty cell
PACKAGES = ("django", "uvicorn", "gunicorn", "uvloop", "httptools", "httpx", "aiohttp", "httpx-aiohttp")


def _first_line(cmd: list[str]) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return "missing"
    return (done.stdout or done.stderr).strip().splitlines()[0] if (done.stdout or done.stderr) else "?"


def _dirty(repo: Path) -> str:
    """Others work in the same checkout: say when the served code is not exactly the commit."""
    done = subprocess.run(
        ["git", "-C", str(repo), "status", "--porcelain", "--", ".", ":!bench"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    changed = len(done.stdout.splitlines())
    return f" + {changed} uncommitted files outside bench/" if changed else ""


def machine_facts(repo: Path) -> list[tuple[str, str]]:
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in ln
        ),
        "?",
    )
    mem = next(
        ln.split(":", 1)[1].strip()
        for ln in Path("/proc/meminfo").read_text().splitlines()
        if "MemTotal" in ln
    )
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} {NA}")
    return [
        ("nproc", str(os.cpu_count())),
        ("CPU", cpu),
        ("memory", mem),
        ("kernel", platform.release()),
        ("python", platform.python_version()),
        ("packages", ", ".join(versions)),
        ("wrk", _first_line(["wrk", "-v"])),
        ("LiteLLM", litellm.VERSION if litellm.installed() else "not installed"),
        ("Portkey gateway", portkey.VERSION if portkey.installed() else "not installed"),
        ("commit", f"{_first_line(['git', '-C', str(repo), 'rev-parse', '--short', 'HEAD'])}{_dirty(repo)}"),
        ("load average at start", " ".join(f"{x:.2f}" for x in os.getloadavg())),
    ]


def _f(value: float | None, digits: int = 2) -> str:
    return NA if value is None else f"{value:,.{digits}f}"


def median_row(rows: list[Row]) -> Row:
    """The attempt with the median RPS (an actual run, so its percentiles belong together)."""
    ordered = sorted(rows, key=lambda r: r.rps)
    return ordered[(len(ordered) - 1) // 2]


def grouped(rows: Iterable[Row]) -> dict[tuple[str, str, str, int], list[Row]]:
    groups: dict[tuple[str, str, str, int], list[Row]] = {}
    for row in rows:
        groups.setdefault((row.scenario, row.side, row.config, row.connections), []).append(row)
    return groups


def _direct(groups: dict[tuple[str, str, str, int], list[Row]], scenario: str, conns: int) -> Row | None:
    rows = groups.get((scenario, "direct", "mock", conns))
    return median_row(rows) if rows else None


def _load_table(scenario: str, groups: dict[tuple[str, str, str, int], list[Row]]) -> list[str]:
    lines = [
        "| side | config | conns | RPS | p50 ms | p90 ms | p99 ms | +p50 ms | +p99 ms "
        "| overhead hdr ms | CPU ms/req | RSS MB | runs (RPS) | note |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for (name, side, config, conns), rows in groups.items():
        if name != scenario:
            continue
        row = median_row(rows)
        load = row.load
        if load is None:
            lines.append(f"| {side} | {config} | {conns} |" + f" {NA} |" * 10 + f" {row.note} |")
            continue
        direct = _direct(groups, scenario, conns)
        added50 = added99 = None
        if side != "direct" and conns == 1 and direct and direct.load and load.p50_ms is not None:
            added50 = load.p50_ms - (direct.load.p50_ms or 0)
            added99 = (load.p99_ms or 0) - (direct.load.p99_ms or 0)
        runs = ", ".join(f"{r.rps:,.0f}" for r in rows) if len(rows) > 1 else ""
        lines.append(
            f"| {side} | {config} | {conns} | {_f(load.rps, 0)} | {_f(load.p50_ms)} | {_f(load.p90_ms)} "
            f"| {_f(load.p99_ms)} | {_f(added50)} | {_f(added99)} | {_f(load.overhead_ms, 3)} "
            f"| {_f(row.cpu_ms_per_req, 3)} | {_f(row.rss_mb, 0)} | {runs} | {row.note} |"
        )
    return lines


def _stream_table(scenario: str, groups: dict[tuple[str, str, str, int], list[Row]]) -> list[str]:
    lines = [
        "| side | config | conns | streams/s | chunks/s | TTFB p50 ms | TTFB p90 ms | TTFB p99 ms "
        "| +TTFB p50 ms | overhead hdr ms | CPU ms/stream | RSS MB | note |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for (name, side, config, conns), rows in groups.items():
        if name != scenario:
            continue
        row = median_row(rows)
        s = row.stream
        if s is None:
            lines.append(f"| {side} | {config} | {conns} |" + f" {NA} |" * 9 + f" {row.note} |")
            continue
        direct = _direct(groups, scenario, conns)
        added = None
        if side != "direct" and direct and direct.stream and s.ttfb_p50_ms is not None:
            added = s.ttfb_p50_ms - (direct.stream.ttfb_p50_ms or 0)
        lines.append(
            f"| {side} | {config} | {conns} | {_f(s.streams_per_s, 0)} | {_f(s.chunks_per_s, 0)} "
            f"| {_f(s.ttfb_p50_ms)} | {_f(s.ttfb_p90_ms)} | {_f(s.ttfb_p99_ms)} | {_f(added)} "
            f"| {_f(s.overhead_ms, 3)} | {_f(row.cpu_ms_per_req, 3)} | {_f(row.rss_mb, 0)} | {row.note} |"
        )
    return lines


def _key_chat_section(rows: list[Row]) -> list[str]:
    """Every run of the key chat comparison: RPS swings with the shared machine, CPU per request less so."""
    runs = [r for r in rows if r.scenario == "chat" and r.connections > 1 and r.load is not None]
    if not runs:
        return []
    out = [
        "## Key chat comparison, run by run (chat non-stream, 32 connections)",
        "",
        "RPS on this shared 2-core machine moves with whatever else runs (wrk, the mock and other work share "
        "the cores); CPU ms per request (the server's own utime+stime over its completed requests) is the "
        "steadiest figure, so the CPU ratio is the fairest peer comparison.",
        "",
        "| side | config | RPS per run | CPU ms/req per run | median CPU ms/req | LiteLLM CPU ÷ this |",
        "|---|---|---|---|---:|---:|",
    ]
    by: dict[tuple[str, str], list[Row]] = {}
    for row in runs:
        by.setdefault((row.side, row.config), []).append(row)
    medians = {}
    for key, group in by.items():
        cpus = sorted(r.cpu_ms_per_req for r in group if r.cpu_ms_per_req is not None)
        medians[key] = cpus[(len(cpus) - 1) // 2] if cpus else None
    peer = medians.get(("litellm", "litellm-1w"))
    for (side, config), group in by.items():
        median = medians[(side, config)]
        ratio = peer / median if peer and median and side == "promptgate" else None
        out.append(
            f"| {side} | {config} | {', '.join(f'{r.rps:,.0f}' for r in group)} "
            f"| {', '.join(_f(r.cpu_ms_per_req, 3) for r in group)} | {_f(median, 3)} "
            f"| {NA if ratio is None else f'{ratio:.1f}x'} |"
        )
    return [*out, ""]


def _mb(kbs: list[int]) -> str:
    return " + ".join(f"{kb / 1024:,.0f}" for kb in kbs) if kbs else NA


def memory_verdicts(mem: dict[str, Any] | None) -> list[Verdict]:
    """Issue 9 §3: streams hold no DB connection and stay within a stated RSS; soak RSS is flat."""
    if not mem:
        return [Verdict("memory (§3)", "not run here: `python -m bench.run --memory`", "not measured")]
    out = []
    limit = memory.STREAM_RSS_LIMIT_MB_PER_WORKER
    rss_parts, db_parts = [], []
    rss_ok = db_ok = True
    for s in mem.get("streams", []):
        per_worker = max(s["plateau_rss_kb"] or [0]) / 1024
        rss_ok &= bool(s["plateau_rss_kb"]) and per_worker < limit and s["max_open"] >= s["streams"]
        rss_parts.append(f"{s['config']}: {per_worker:,.0f} MB/worker with {s['max_open']:,} open")
        # The gateway's persistent connections (per worker: request-log writer, config loads) open on a
        # worker's first requests; a stream holding one would push the plateau count above both.
        idle = int(str(s["idle_db"]).split()[0] or 0)
        after = int(str(s["after_db"]).split()[0] or 0) if s["after_db"] else 0
        peak = max((int(str(v).split()[0]) for v in s["plateau_db"]), default=-1)
        db_ok &= 0 <= peak <= max(idle, after)
        db_parts.append(f"{s['config']}: {peak} with {s['max_open']:,} open (idle {idle}, after {after})")
    if rss_parts:
        out.append(
            Verdict(
                f"1,000 open streams: RSS < {limit:.0f} MB per worker",
                "; ".join(rss_parts),
                "PASS" if rss_ok else "FAIL",
            )
        )
        out.append(
            Verdict(
                "1,000 open streams hold no DB connection (count during plateau ≤ idle or after)",
                "; ".join(db_parts),
                "PASS" if db_ok else "FAIL",
            )
        )
    soaks = mem.get("soaks", [])
    if soaks:
        parts = [
            f"{s['scenario']} {s['config']} {s['requests']:,} req: "
            + (NA if s["slope_kb_per_10k"] is None else f"{s['slope_kb_per_10k']:+.1f} KB/10k")
            for s in soaks
        ]
        ok = all(s["verdict"] == "PASS" for s in soaks)
        measured = any(s["slope_kb_per_10k"] is not None for s in soaks)
        out.append(
            Verdict(
                f"soak: RSS slope after warm-up < {memory.SLOPE_LIMIT_KB_PER_10K:.0f} KB per 10k requests",
                "; ".join(parts),
                ("PASS" if ok else "FAIL") if measured else "not measured",
            )
        )
    if mem.get("separate"):
        out = [Verdict(v.target, f"{v.measured} (separate run {mem['when']})", v.result) for v in out]
    return out


def _memory_section(mem: dict[str, Any]) -> list[str]:
    out = ["## Memory (issue 9 §3)", ""]
    if mem.get("separate"):
        out += [
            f"Not measured by this run: from the last memory run, `{mem['command']}` at {mem['when']} "
            f"(commit {mem['commit']}).",
            "",
        ]
    if mem.get("streams"):
        s0 = mem["streams"][0]
        out += [
            f"### {s0['streams']:,} concurrent open chat-completion streams",
            "",
            f"Each stream: SSE through PromptGate to a mock sending a chunk every {s0['chunk_ms']:.0f} ms, "
            f"{s0['chunks']} chunks (~{s0['chunk_ms'] * s0['chunks'] / 1000:.0f} s open). RSS: VmRSS of "
            "each worker from /proc (MB, one figure per worker), idle before, at the fullest plateau sample "
            "(all streams open, sampled every second) and after all ended. DB: "
            f"{s0['db_what']}; plateau: one count per sample.",
            "",
            "| config | open at once | completed | errors | events/stream | TTFB p50 / p99 ms | RSS idle MB "
            "| RSS open MB | RSS after MB | per open stream KB | DB idle | DB open | DB after | note |",
            "|---|---:|---:|---:|---|---|---|---|---|---:|---|---|---|---|",
        ]
        for s in mem["streams"]:
            grown = sum(s["plateau_rss_kb"]) - sum(s["idle_rss_kb"])
            per_stream = grown / s["max_open"] if s["max_open"] else None
            db_open = ", ".join(s["plateau_db"]) if s["plateau_db"] else NA
            if len(s["plateau_db"]) > 4:
                db_open = f"{s['plateau_db'][0]} … {s['plateau_db'][-1]} ({len(s['plateau_db'])} samples)"
            out.append(
                f"| {s['config']} | {s['max_open']:,} | {s['completed']:,} | {s['errors']} "
                f"| {s['events_min']}-{s['events_max']} | {_f(s['ttfb_p50_ms'])} / {_f(s['ttfb_p99_ms'])} "
                f"| {_mb(s['idle_rss_kb'])} | {_mb(s['plateau_rss_kb'])} | {_mb(s['after_rss_kb'])} "
                f"| {_f(per_stream, 0)} | {s['idle_db']} | {db_open} | {s['after_db']} | {s['note']} |"
            )
        out.append("")
    if mem.get("soaks"):
        out += [
            "### Soak: RSS over many requests",
            "",
            "wrk in segments of about `every` requests, the workers' RSS (sum) read after each; the slope is "
            "a least-squares fit over the samples of the second half (the first half is warm-up). "
            f"Pass: < {memory.SLOPE_LIMIT_KB_PER_10K:.0f} KB per 10,000 requests (≈ 1 MB per 100k).",
            "",
            "| scenario | config | requests | conns | seconds | RPS | errors | RSS MB at 0 / 25 / 50 / 75 / 100 % "
            "| 2nd-half growth KB | slope KB/10k | result | note |",
            "|---|---|---:|---:|---:|---:|---:|---|---:|---:|---|---|",
        ]
        for s in mem["soaks"]:
            samples = s["samples"]
            marks = []
            for pct in (0, 25, 50, 75, 100):
                goal = s["requests"] * pct / 100
                hit = min(samples, key=lambda x: abs(x[0] - goal)) if samples else None
                marks.append(f"{hit[2] / 1024:.1f}" if hit else NA)
            rps = s["requests"] / s["seconds"] if s["seconds"] else 0
            out.append(
                f"| {s['scenario']} | {s['config']} | {s['requests']:,} | {s['connections']} "
                f"| {s['seconds']:.0f} | {rps:,.0f} | {s['errors']} | {' / '.join(marks)} "
                f"| {s['second_half_growth_kb'] if s['second_half_growth_kb'] is not None else NA} "
                f"| {_f(s['slope_kb_per_10k'], 1)} | {s['verdict']} | {s['note']} |"
            )
        out.append("")
    return out


def render(
    rows: list[Row],
    verdicts: list[Verdict],
    facts: list[tuple[str, str]],
    command: str,
    notes: list[str],
    mem: dict[str, Any] | None = None,
) -> str:
    groups = grouped(rows)
    out = [
        "# PromptGate bench",
        "",
        f"Command: `{command}`",
        "",
        "| machine | |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in facts),
        "",
        "Everything runs on this one machine: wrk (one thread), the mock upstream (one uvicorn process) and the "
        "server under test share its cores, and other work on the machine adds noise. Compare rows of one run; "
        'key scenarios are repeated ("runs") to show the spread. `+p50`/`+p99`: added latency against the '
        "direct call at the same connection count (1 connection only). `overhead hdr`: the mean "
        "X-PromptGate-Overhead-Ms the gateway reports. CPU per request: utime+stime of the server's "
        "processes during the run divided by completed requests (for `direct`: the mock's own). RSS: sum of the "
        "serving processes after the run.",
        "",
        "`bare-proxy` (config `bare-Nw`) is the ceiling of any proxy on this stack, measured in the same run: "
        "bench/mocks/bare_proxy.py, a raw ASGI app with no auth and no logic that forwards each request to "
        "the same mock through one shared aiohttp session, served by gunicorn and uvicorn workers exactly as "
        "PromptGate is, with as many workers.",
        "",
        "The full path is on for PromptGate (bench/seed.py): token auth and scopes, rate limits on every HTTP "
        "endpoint and MCP server, requests- and tokens-per-minute limits and daily and monthly budgets on every "
        "AI project (set high enough never to refuse), cost priced per request, and the request log written.",
        "",
        "## Targets (issue 9)",
        "",
        "| target | measured | result |",
        "|---|---|---|",
        *(f"| {v.target} | {v.measured} | {v.result} |" for v in verdicts),
        "",
    ]
    for scenario in SCENARIOS:
        if not any(key[0] == scenario.name for key in groups):
            continue
        out += [f"## {BY_NAME[scenario.name].title}", ""]
        table = _stream_table if scenario.kind == "stream" else _load_table
        out += [*table(scenario.name, groups), ""]
    out += _key_chat_section(rows)
    if mem:
        out += _memory_section(mem)
    if notes:
        out += ["## Notes", "", *(f"- {n}" for n in notes), ""]
    return "\n".join(out)
