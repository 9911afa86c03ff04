"""`python -m bench.run`: start the mocks, each gateway configuration and LiteLLM, measure, write the report."""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import resource
import shlex
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from types import FrameType
from typing import Any

from bench import litellm, memory, portkey, report, stack, targets
from bench.load import wrk
from bench.load.result import LoadResult, Target
from bench.load.stream import StreamResult
from bench.measure import Row, run, warm
from bench.procs import CpuLedger, Managed, Processes, service_roots
from bench.scenarios import (
    BY_NAME,
    KEY_SCENARIOS,
    SCENARIOS,
    Context,
    Scenario,
    Unavailable,
    chat_body,
    check,
    target,
)

RESULTS = stack.BENCH_DIR / "results"
MEMORY_SCENARIOS = ("memory_streams", "memory_soak")
PAIRED_ROUNDS = 5  # alternating rounds of a paired comparison at 32 connections, at least


def memory_record_path(name: str) -> Path:
    """A run's memory results; reports that measured none show the last `--name memory` run's."""
    return stack.VAR / f"memory-record-{name}.json"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="1-minute smoke: 1 s runs, SQLite 1 worker, no LiteLLM"
    )
    known = ", ".join((*BY_NAME, *MEMORY_SCENARIOS))
    parser.add_argument("--only", action="append", default=[], help=f"scenario(s): {known}")
    parser.add_argument("--duration", type=int, help="seconds per measurement (default 4, quick 1)")
    parser.add_argument("--configs", help="gateway configs, e.g. sqlite:1,pg:1,pg:2 (the default)")
    parser.add_argument("--connections", default="1,32", help="connection counts (default 1,32)")
    parser.add_argument(
        "--repeat", type=int, help="runs of the key scenarios at 32 conns (default 3, quick 1)"
    )
    parser.add_argument("--no-litellm", action="store_true", help="skip LiteLLM")
    parser.add_argument("--litellm", action="store_true", help="run LiteLLM even with --quick")
    parser.add_argument("--no-portkey", action="store_true", help="skip Portkey's gateway (node)")
    parser.add_argument("--portkey", action="store_true", help="run Portkey even with --quick")
    parser.add_argument(
        "--name", help="report name under bench/results/ (default latest; memory for memory-only runs)"
    )
    parser.add_argument("--python-load", action="store_true", help="use the aiohttp load generator, not wrk")
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="measure nothing: re-render bench/results/<name>.md from bench/var/<name>.json (and the last "
        "memory run's record), e.g. after a separate --memory run",
    )
    memory_group = parser.add_argument_group("memory (issue 9 §3; not in the default run: minutes each)")
    memory_group.add_argument("--memory", action="store_true", help="add memory_streams and memory_soak")
    memory_group.add_argument(
        "--memory-soak-full", action="store_true", help="soak 1,000,000 requests (implies memory_soak)"
    )
    memory_group.add_argument("--streams", type=int, default=1000, help="concurrent open streams (1000)")
    memory_group.add_argument("--stream-chunk-ms", type=float, default=1000, help="mock's gap between chunks")
    memory_group.add_argument("--stream-chunks", type=int, default=20, help="chunks per stream (20: ~20 s)")
    memory_group.add_argument("--soak-requests", type=int, help="per soak (default 100,000; full 1,000,000)")
    memory_group.add_argument("--soak-every", type=int, help="RSS sample every N requests (default count/20)")
    memory_group.add_argument("--soak-configs", default="sqlite:1,pg:1", help="soak configs (sqlite:1,pg:1)")
    memory_group.add_argument("--soak-scenarios", default="http_get,chat", help="soaked scenarios")
    memory_group.add_argument("--soak-connections", type=int, default=32, help="wrk connections (32)")
    memory_group.add_argument(
        "--soak-max-minutes", type=float, help="stop a soak after this (default 15; 60 with full)"
    )
    args = parser.parse_args(argv)
    args.duration = args.duration or (1 if args.quick else 4)
    args.repeat = args.repeat or (1 if args.quick else 3)
    args.configs = args.configs or ("sqlite:1" if args.quick else "sqlite:1,pg:1,pg:2")
    names = [n for item in args.only for n in item.split(",") if n]
    unknown = [n for n in names if n not in BY_NAME and n not in MEMORY_SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; known: {known}")
    regular = [n for n in names if n in BY_NAME]
    args.memory_scenarios = [n for n in names if n in MEMORY_SCENARIOS]
    if args.memory:
        args.memory_scenarios = list(MEMORY_SCENARIOS)
    if args.memory_soak_full and "memory_soak" not in args.memory_scenarios:
        args.memory_scenarios.append("memory_soak")
    # --only memory_streams runs just that; --memory adds both to whatever else was selected.
    args.scenarios = [BY_NAME[n] for n in regular] if names else list(SCENARIOS)
    args.name = args.name or ("latest" if args.scenarios else "memory")
    args.soak_requests = args.soak_requests or (1_000_000 if args.memory_soak_full else 100_000)
    args.soak_every = args.soak_every or max(1000, args.soak_requests // 20)
    args.soak_max_minutes = args.soak_max_minutes or (60.0 if args.memory_soak_full else 15.0)
    args.soak_scenario_list = [BY_NAME[n] for n in args.soak_scenarios.split(",") if n]
    args.soak_gateway_configs = [
        stack.GatewayConfig(db, int(workers))
        for db, workers in (c.split(":") for c in args.soak_configs.split(",") if c)
    ]
    args.conns = [int(c) for c in args.connections.split(",")]
    args.gateway_configs = [
        stack.GatewayConfig(db, int(workers))
        for db, workers in (c.split(":") for c in args.configs.split(","))
    ]
    return args


class Bench:
    def __init__(self, args: argparse.Namespace, procs: Processes, use_wrk: bool) -> None:
        self.args = args
        self.procs = procs
        self.use_wrk = use_wrk
        self.rows: list[Row] = []
        self.notes: list[str] = []
        self.streams: list[memory.StreamsResult] = []
        self.soaks: list[memory.SoakResult] = []

    def ledger(self, server_pid: int) -> CpuLedger:
        """The machine's CPU by role for one run (the server under test is `server`)."""
        mocks = [
            m.pid
            for m in self.procs.started
            if m.name.startswith("mock-") and m.proc.poll() is None and m.pid != server_pid
        ]
        return CpuLedger({"server": [server_pid], "mocks": mocks, **self.services})

    @functools.cached_property
    def services(self) -> dict[str, list[int]]:
        """The machine's PostgreSQL and Redis, found once: they run for the whole bench."""
        return {"PostgreSQL": service_roots("postgres"), "Redis": service_roots("redis-server")}

    def log(self, message: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)

    def side(self, scenario: Scenario, side: str, config: str, ctx: Context, pid: int) -> None:
        try:
            tgt = target(scenario, side, ctx)
        except Unavailable as exc:
            self.log(f"{scenario.name} {side} {config}: {exc}")
            for conns in self.args.conns:
                self.rows.append(Row(scenario.name, side, config, conns, note=str(exc)))
            return
        warm(tgt, self.use_wrk)
        for conns in self.args.conns:
            attempts = self.args.repeat if scenario.name in KEY_SCENARIOS and conns > 1 else 1
            for attempt in range(1, attempts + 1):
                self.measure(scenario, side, config, conns, attempt, tgt, pid)

    def measure(
        self, scenario: Scenario, side: str, config: str, conns: int, attempt: int, tgt: Target, pid: int
    ) -> None:
        row = run(Row(scenario.name, side, config, conns, attempt=attempt), tgt, scenario.kind,
                  self.args.duration, pid, self.use_wrk, self.ledger(pid))  # fmt: skip
        self.rows.append(row)
        self.log(
            f"{scenario.name:13} {side:10} {config:10} c={conns:<3} rps={row.rps:>9,.0f} "
            f"cpu/req={row.cpu_ms_per_req or 0:.3f}ms {row.note}"
        )

    def paired(self, scenarios: list[Scenario], config: str, ctx: Context, pid: int) -> None:
        """Scenarios whose RPS the report compares within a budget (guardrails: 15%), at 32 connections
        in alternating rounds, so that the host's drift between minutes falls on each alike; the judge
        compares them round by round (bench.paired's method; bench/README.md)."""
        try:
            tgts = [target(scenario, "promptgate", ctx) for scenario in scenarios]
        except Unavailable:
            for scenario in scenarios:
                self.side(scenario, "promptgate", config, ctx, pid)  # notes why, per scenario
            return
        for tgt in tgts:
            warm(tgt, self.use_wrk)
        for conns in self.args.conns:
            rounds = max(self.args.repeat, PAIRED_ROUNDS) if conns > 1 else 1
            for attempt in range(1, rounds + 1):
                for scenario, tgt in zip(scenarios, tgts, strict=True):
                    self.measure(scenario, "promptgate", config, conns, attempt, tgt, pid)

    def direct(self, ctx: Context, mock_pids: dict[str, int]) -> None:
        for scenario in self.args.scenarios:
            upstream = {"http": "http", "chat": "llm", "stream": "llm", "mcp": "mcp", "ai": "llm"}[
                scenario.kind
            ]
            self.side(scenario, "direct", "mock", ctx, mock_pids[upstream])

    def bare_proxy(self, workers: int, ctx: Context) -> None:
        """The zero-logic proxy, once per run and worker count (like `direct`, not per gateway config)."""
        scenarios = [s for s in self.args.scenarios if "bare-proxy" in s.sides]
        if not scenarios:
            return
        try:
            managed, ctx.bare_port = stack.start_bare_proxy(self.procs, ctx.mocks, workers)
        except (RuntimeError, OSError) as exc:
            self.notes.append(f"The bare proxy ({workers} worker(s)) did not run: {str(exc)[:600]}")
            self.log(f"bare proxy {workers}w failed: {exc}")
            return
        try:
            for scenario in scenarios:
                self.side(scenario, "bare-proxy", f"bare-{workers}w", ctx, managed.pid)
        finally:
            self.procs.stop(managed)
            ctx.bare_port = None

    def gateway(self, config: stack.GatewayConfig, ctx: Context) -> None:
        if not self.args.scenarios:
            return
        label = f"{config.db}-{config.workers}w"
        self.log(f"PromptGate {config.label}: migrate and seed")
        try:
            ctx.seed = stack.prepare_database(config, ctx.mocks)
            managed, ctx.gateway_port = stack.start_gateway(self.procs, config)
        except (RuntimeError, OSError) as exc:
            self.notes.append(f"PromptGate {config.label} did not run: {str(exc)[:600]}")
            self.log(f"PromptGate {config.label} failed: {exc}")
            return
        try:
            warm(target(BY_NAME["http_get"], "promptgate", ctx), self.use_wrk)
            names = {scenario.name for scenario in self.args.scenarios}
            pair = targets.GUARDRAIL_PAIR if names >= set(targets.GUARDRAIL_PAIR) else ()
            for scenario in self.args.scenarios:
                if "promptgate" not in scenario.sides:
                    continue
                if scenario.name == (pair[0] if pair else None):
                    self.paired([BY_NAME[n] for n in pair], label, ctx, managed.pid)
                elif scenario.name not in pair:
                    self.side(scenario, "promptgate", label, ctx, managed.pid)
            self.check_writers(label, ctx)
        finally:
            self.procs.stop(managed)

    def check_writers(self, label: str, ctx: Context) -> None:
        """A request log that failed to write would flatter every figure: say so in the report."""
        status, body, _ = stack.probe(f"http://127.0.0.1:{ctx.gateway_port}/readyz", None, {})
        try:
            writers = json.loads(body)["writers"]
        except (ValueError, KeyError, TypeError):
            self.notes.append(f"PromptGate {label}: /readyz answered HTTP {status}; writer health unknown.")
            return
        for name, stats in writers.items():
            if stats.get("failed_batches") or stats.get("dropped"):
                note = (
                    f"PromptGate {label}: the {name} writer of the worker that answered /readyz failed "
                    f"{stats.get('failed_batches')} batches and dropped {stats.get('dropped')} items; "
                    "figures of this configuration did not pay for those writes."
                )
                self.notes.append(note)
                self.log(note)

    def _fresh_gateway(self, config: stack.GatewayConfig, ctx: Context) -> Managed | None:
        """Migrate, seed and start a new gateway: memory figures start from an unused process."""
        try:
            ctx.seed = stack.prepare_database(config, ctx.mocks)
            managed, ctx.gateway_port = stack.start_gateway(self.procs, config)
        except (RuntimeError, OSError) as exc:
            self.notes.append(f"PromptGate {config.label} did not run (memory): {str(exc)[:600]}")
            self.log(f"PromptGate {config.label} failed: {exc}")
            return None
        return managed

    def memory_streams(self, config: stack.GatewayConfig, ctx: Context) -> None:
        label = f"{config.db}-{config.workers}w"
        self.log(f"memory_streams {label}: {self.args.streams} streams of ~{self.args.stream_chunks} s")
        managed = self._fresh_gateway(config, ctx)
        if managed is None:
            return
        counter = None
        try:
            seed = ctx.seed.get("ai_slow") or {"unavailable": "not seeded"}
            if "unavailable" in seed:
                raise Unavailable(f"not available yet: {seed['unavailable']}")
            gw = f"http://127.0.0.1:{ctx.gateway_port}/api/{seed['uuid']}/v1/chat/completions"
            headers = (("Content-Type", "application/json"), ("Authorization", f"Bearer {seed['token']}"))
            # The slow mock answers non-stream at once: a quick check that the route serves this project.
            chat = Target(gw, "POST", chat_body("openai:bench-model", False), headers)
            warm(check(chat, b"chat.completion"), self.use_wrk)
            stream_target = Target(gw, "POST", chat_body("openai:bench-model", True), headers)
            counter = memory.DbCounter(config.db, managed.pid, stack.VAR / config.db / "promptgate.sqlite3")
            result = memory.streams(
                stream_target, label, managed.pid, counter, self.args.streams,
                self.args.stream_chunk_ms, self.args.stream_chunks,
            )  # fmt: skip
            self.streams.append(result)
            self.log(
                f"memory_streams {label}: {result.max_open} open at once, {result.completed} completed, "
                f"{result.errors} errors; RSS/worker idle "
                f"{[round(k / 1024) for k in result.idle_rss_kb]} MB, open "
                f"{[round(k / 1024) for k in result.plateau_rss_kb]} MB; DB idle {result.idle_db}, "
                f"open {result.plateau_db}, after {result.after_db}"
            )
        except Unavailable as exc:
            self.notes.append(f"memory_streams {label}: {exc}")
            self.log(f"memory_streams {label}: {exc}")
        finally:
            if counter is not None:
                counter.close()
            self.procs.stop(managed)

    def memory_soak(self, config: stack.GatewayConfig, ctx: Context) -> None:
        label = f"{config.db}-{config.workers}w"
        for scenario in self.args.soak_scenario_list:
            self.log(f"memory_soak {scenario.name} {label}: {self.args.soak_requests:,} requests")
            managed = self._fresh_gateway(config, ctx)
            if managed is None:
                return
            try:
                tgt = target(scenario, "promptgate", ctx)
                result = memory.soak(
                    tgt, label, scenario.name, managed.pid, self.args.soak_requests, self.args.soak_every,
                    self.args.soak_connections, self.args.soak_max_minutes * 60, self.use_wrk, self.log,
                )  # fmt: skip
                self.soaks.append(result)
                self.log(
                    f"memory_soak {scenario.name} {label}: {result.requests:,} requests in "
                    f"{result.seconds:.0f} s, slope {result.slope_kb_per_10k or 0:+.1f} KB/10k "
                    f"({result.verdict}) {result.note}"
                )
            except Unavailable as exc:
                self.notes.append(f"memory_soak {scenario.name} {label}: {exc}")
            finally:
                self.procs.stop(managed)

    def litellm(self, workers: int, ctx: Context) -> None:
        self.peer(
            "litellm",
            "LiteLLM",
            litellm,
            workers,
            ctx,
            lambda: litellm.start(self.procs, ctx.mocks["llm"], workers),
        )

    def portkey(self, workers: int, ctx: Context) -> None:
        self.peer("portkey", "Portkey", portkey, workers, ctx, lambda: portkey.start(self.procs, workers))

    def peer(
        self, side: str, title: str, module: Any, workers: int, ctx: Context, start: Callable[[], Any]
    ) -> None:
        """Install once, start, measure every scenario the peer `side` takes part in, stop."""
        chat = [s for s in self.args.scenarios if side in s.sides]
        if not chat:
            return
        if not module.installed():
            self.log(f"installing {title} (once; may take minutes)")
            if not module.install(stack.VAR / "logs" / f"{side}-install.log"):
                self.notes.append(f"{title} could not be installed: see bench/var/logs/{side}-install.log")
                return
        try:
            managed, port = start()
        except RuntimeError as exc:
            self.notes.append(f"{title} {workers} worker(s) did not start: {str(exc)[:600]}")
            return
        setattr(ctx, f"{side}_port", port)
        try:
            for scenario in chat:
                self.side(scenario, side, f"{side}-{workers}w", ctx, managed.pid)
        finally:
            self.procs.stop(managed)
            setattr(ctx, f"{side}_port", None)


def write_report(
    bench: Bench, command: str, facts: list[tuple[str, str]], partial: bool, stamp: bool = True
) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    notes = list(bench.notes)
    if partial:
        notes.insert(0, "PARTIAL: the run was interrupted; only the rows above were measured.")
    if not bench.use_wrk:
        notes.append("wrk was not available: the aiohttp load generator ran (it costs the shared CPU more).")
    mem = memory_record(bench, command, facts)
    if mem is None:  # no memory measured here: show the last memory run's, marked as such
        with contextlib.suppress(ValueError, OSError):
            last = json.loads(memory_record_path("memory").read_text())
            mem = {**last, "separate": True} if isinstance(last, dict) else None
    verdicts = (targets.judge(bench.rows) if bench.rows else []) + report.memory_verdicts(mem)
    text = report.render(bench.rows, verdicts, facts, command, notes, mem)
    name = bench.args.name
    stamp = stamp and name == "latest"  # a timestamped copy keeps the history of `make bench` runs
    for file_name in (f"{name}.md", f"{time.strftime('%Y%m%d-%H%M%S')}.md" if stamp else None):
        if file_name:
            (RESULTS / file_name).write_text(text)
    (stack.VAR / f"{name}.json").write_text(json.dumps([asdict(r) for r in bench.rows], indent=1))
    return RESULTS / f"{name}.md"


def memory_record(bench: Bench, command: str, facts: list[tuple[str, str]]) -> dict[str, Any] | None:
    """This run's memory results (also kept in bench/var/memory.json for reports of later runs)."""
    if not bench.streams and not bench.soaks:
        return None
    record = {
        "command": command,
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "commit": dict(facts).get("commit", "?"),
        "streams": [asdict(s) for s in bench.streams],
        "soaks": [{**asdict(s), "verdict": s.verdict} for s in bench.soaks],
    }
    stack.VAR.mkdir(parents=True, exist_ok=True)
    memory_record_path(bench.args.name).write_text(json.dumps(record, indent=1))
    return record


def raise_open_files() -> None:
    """1,000 streams need 2,000+ sockets here and in the gateway (children inherit the limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def load_rows(path: Path) -> list[Row]:
    """Rows as write_report saved them (bench/var/<name>.json)."""
    rows = []
    for raw in json.loads(path.read_text()):
        load = raw.pop("load")
        streamed = raw.pop("stream")
        row = Row(**raw)
        if load is not None:
            row.load = LoadResult(**{**load, "statuses": {int(k): v for k, v in load["statuses"].items()}})
        if streamed is not None:
            row.stream = StreamResult(**streamed)
        rows.append(row)
    return rows


def render_only(args: argparse.Namespace) -> int:
    source = stack.VAR / f"{args.name}.json"
    rows = load_rows(source)
    old = (RESULTS / f"{args.name}.md").read_text() if (RESULTS / f"{args.name}.md").exists() else ""
    command = next((ln[10:-1] for ln in old.splitlines() if ln.startswith("Command: `")), "?")
    facts = [
        (k.strip(), v.strip())
        for ln in old.split("## Targets")[0].splitlines()
        if ln.startswith("| ") and ln.count("|") == 3 and not ln.startswith("| machine")
        for k, v in [ln.strip("| ").split(" | ", 1)]
    ] or report.machine_facts(stack.REPO)
    notes = (
        [ln[2:] for ln in old.split("## Notes", 1)[1].splitlines() if ln.startswith("- ")]
        if "## Notes" in old
        else []
    )
    bench = Bench(args, Processes(stack.VAR / "logs"), use_wrk=True)
    bench.rows, bench.notes = rows, notes
    path = write_report(bench, command, facts, partial=False, stamp=False)
    print(f"re-rendered {path} from {source}")
    return 0


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # the finally blocks stop every process we started


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.render_only:
        return render_only(args)
    signal.signal(signal.SIGTERM, _terminate)
    raise_open_files()
    command = "python -m bench.run " + shlex.join(sys.argv[1:] if argv is None else argv)
    use_wrk = not args.python_load and wrk.ensure_installed()
    procs = Processes(stack.VAR / "logs")
    bench = Bench(args, procs, use_wrk)
    facts = report.machine_facts(stack.REPO)
    started = time.monotonic()
    partial = True
    try:
        mocks = {
            "http": stack.start_mock(procs, "mock-http", "http"),
            "llm": stack.start_mock(procs, "mock-llm", "llm"),
            "mcp": stack.start_mock(procs, "mock-mcp", "mcp"),
        }
        mock_pids = {m.name.removeprefix("mock-"): m.pid for m in procs.started}
        if "memory_streams" in args.memory_scenarios:
            # Keeps every stream open: a chunk every --stream-chunk-ms, --stream-chunks of them.
            slow = {
                "BENCH_LLM_CHUNK_MS": str(args.stream_chunk_ms),
                "BENCH_LLM_CHUNKS": str(args.stream_chunks),
            }
            mocks["llm_slow"] = stack.start_mock(procs, "mock-llm-slow", "llm", slow)
        ctx = Context(mocks=mocks)
        bench.direct(ctx, mock_pids)
        for workers in sorted({c.workers for c in args.gateway_configs}):
            bench.bare_proxy(workers, ctx)
        for config in args.gateway_configs:
            bench.gateway(config, ctx)
        if not args.no_litellm and (not args.quick or args.litellm):
            for workers in sorted({c.workers for c in args.gateway_configs}):
                bench.litellm(workers, ctx)
        if not args.no_portkey and (not args.quick or args.portkey):
            # Portkey's node server is one process: it is measured once, beside the 1-worker rows.
            bench.portkey(1, ctx)
        if "memory_streams" in args.memory_scenarios:
            for config in args.gateway_configs:
                bench.memory_streams(config, ctx)
        if "memory_soak" in args.memory_scenarios:
            for config in args.soak_gateway_configs:
                bench.memory_soak(config, ctx)
        partial = False
    except KeyboardInterrupt:
        bench.log("interrupted: stopping every process")
    finally:
        procs.stop_all()
        path = write_report(bench, command, facts, partial)
        bench.log(f"report: {path} ({time.monotonic() - started:.0f} s)")
    return 1 if partial else 0


if __name__ == "__main__":
    raise SystemExit(main())
