"""`python -m bench.ab`: A/B two variants of PromptGate in alternating rounds of `bench.run`.

A variant is a source tree (default: this one) plus environment settings, so one command compares
two commits (`--base-tree` a worktree of the older one) or two settings of the same code
(`--base-env NAME=VALUE`). Rounds alternate the order (base first, then branch first, ...) so a
machine that gets busier or quieter during the run favours neither side. The report gives, per
scenario, configuration and connection count, the median over rounds and repeats of CPU ms/req,
RPS and the latency added to the same run's direct call, and the change from base to branch.

    python -m bench.ab --rounds 4 --base-env PROMPTGATE_GC_GEN0_THRESHOLD=0 --name gc \\
        -- --only http_get,chat --configs sqlite:1,pg:1 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench import stack

Key = tuple[str, str, int]  # scenario, config, connections


def _variant_env(pairs: list[str]) -> dict[str, str]:
    env = dict(os.environ)
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise SystemExit(f"--*-env takes NAME=VALUE, got {pair!r}")
        env[name] = value
    return env


def _run(tree: Path, env: dict[str, str], name: str, bench_args: list[str]) -> list[dict[str, Any]]:
    cmd = [sys.executable, "-m", "bench.run", "--no-litellm", *bench_args, "--name", name]
    print(f"[ab] {tree}: {' '.join(cmd[1:])}", flush=True)
    subprocess.run(cmd, cwd=tree, env=env, check=True)
    rows = json.loads((tree / "bench" / "var" / f"{name}.json").read_text())
    for path in (tree / "bench" / "results" / f"{name}.md", tree / "bench" / "var" / f"{name}.json"):
        path.unlink(missing_ok=True)  # one round's raw report: the A/B report is what is kept
    return rows


def _figures(row: dict[str, Any]) -> tuple[float, float, float] | None:
    """(rate, p50, p99) of a row: requests, or streams with their time to first byte."""
    load, stream = row.get("load"), row.get("stream")
    if load and load.get("requests"):
        return load["rps"], load["p50_ms"], load["p99_ms"]
    if stream and stream.get("streams"):
        return stream["streams_per_s"], stream["ttfb_p50_ms"], stream["ttfb_p99_ms"]
    return None


def _collect(rows: list[dict[str, Any]], into: dict[Key, dict[str, list[float]]]) -> None:
    direct = {
        (r["scenario"], r["connections"]): figures
        for r in rows
        if r["side"] == "direct" and (figures := _figures(r)) is not None
    }
    for row in rows:
        figures = _figures(row)
        if row["side"] != "promptgate" or figures is None:
            continue
        key = (row["scenario"], row["config"], row["connections"])
        into[key]["cpu"].append(row["cpu_ms_per_req"])
        into[key]["rps"].append(figures[0])
        base = direct.get((row["scenario"], row["connections"]))
        if base is not None and row["connections"] == 1:
            into[key]["p50"].append(figures[1] - base[1])
            into[key]["p99"].append(figures[2] - base[2])


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _cell(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _change(base: float | None, branch: float | None) -> str:
    if base is None or branch is None or base == 0:
        return "-"
    return f"{(branch - base) / abs(base) * 100:+.0f}%"


def render(title: str, command: str, sides: dict[str, dict[Key, dict[str, list[float]]]], rounds: int) -> str:
    lines = [
        f"# A/B: {title}",
        "",
        f"Command: `{command}`",
        "",
        f"{rounds} rounds, alternating which side runs first. Medians over every round and repeat; "
        "`+p50`/`+p99` are added to the same run's direct call (1 connection only). Streams: RPS is "
        "streams per second, CPU per stream, and `+p50`/`+p99` are the added time to first byte.",
        "",
        "| scenario | config | conns | metric | base | branch | change | n |",
        "|---|---|---:|---|---:|---:|---:|---:|",
    ]
    keys = sorted(set(sides["base"]) | set(sides["branch"]))
    for key in keys:
        for metric, digits in (("cpu", 3), ("rps", 0), ("p50", 2), ("p99", 2)):
            base = sides["base"].get(key, {}).get(metric, [])
            branch = sides["branch"].get(key, {}).get(metric, [])
            if not base and not branch:
                continue
            label = {"cpu": "CPU ms/req", "rps": "RPS", "p50": "+p50 ms", "p99": "+p99 ms"}[metric]
            lines.append(
                f"| {key[0]} | {key[1]} | {key[2]} | {label} | {_cell(_median(base), digits)} | "
                f"{_cell(_median(branch), digits)} | {_change(_median(base), _median(branch))} | "
                f"{len(base)}/{len(branch)} |"
            )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--base-tree", type=Path, default=stack.REPO, help="source tree of the base side")
    parser.add_argument("--branch-tree", type=Path, default=stack.REPO, help="source tree of the branch side")
    parser.add_argument("--base-env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--branch-env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--name", default="ab", help="report: bench/results/ab-<name>.md")
    parser.add_argument("--title", default="", help="the report's heading (default: the name)")
    parser.add_argument("bench_args", nargs=argparse.REMAINDER, help="after --: arguments for bench.run")
    args = parser.parse_args()
    bench_args = [a for a in args.bench_args if a != "--"]
    variants = {
        "base": (args.base_tree.resolve(), _variant_env(args.base_env)),
        "branch": (args.branch_tree.resolve(), _variant_env(args.branch_env)),
    }
    sides: dict[str, dict[Key, dict[str, list[float]]]] = {
        side: defaultdict(lambda: defaultdict(list)) for side in variants
    }
    for round_no in range(args.rounds):
        order = ["base", "branch"] if round_no % 2 == 0 else ["branch", "base"]
        for side in order:
            tree, env = variants[side]
            _collect(_run(tree, env, f"ab-{args.name}-{side}-{round_no}", bench_args), sides[side])
    command = "python -m bench.ab " + shlex.join(sys.argv[1:])
    report = render(args.title or args.name, command, sides, args.rounds)
    out = stack.BENCH_DIR / "results" / f"ab-{args.name}.md"
    out.write_text(report)
    print(report)
    print(f"[ab] report: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
