"""`python -m bench.profile`: py-spy on one PromptGate worker under wrk load; top self and inclusive frames.

py-spy is a bench tool, not a project dependency: it is pip-installed into the running venv on first use.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from bench import stack
from bench.load import wrk
from bench.procs import Processes, serving_groups
from bench.scenarios import BY_NAME, Context, target

PY_SPY = Path(sys.executable).parent / "py-spy"


def ensure_py_spy() -> Path:
    if not PY_SPY.exists() and shutil.which("py-spy") is None:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "py-spy"], check=True, timeout=600)
    return PY_SPY if PY_SPY.exists() else Path(shutil.which("py-spy") or "py-spy")


PROJECT = ("gateways", "promptgate", "projects", "audit", "credentials", "bench")
# Leaf frames of threads parked on a lock or queue: py-spy reports them, but they burn no CPU.
IDLE_LEAVES = (
    "Condition.wait (threading.py",
    "_worker (concurrent/futures/thread.py:81)",
    "Event.wait (threading.py",
    "Queue.get (queue.py",
    "_await_ack (gateways/common/log_process.py",  # the request-log writer waiting for its child
)


def _owner(frame: str) -> str | None:
    """The package a frame belongs to: a project app, a third-party package, or None for the stdlib.

    py-spy prints paths relative to their sys.path entry (`aiohttp/client.py`, `uuid.py`).
    """
    path = frame.rpartition("(")[2].rstrip(")").rpartition(":")[0]
    top = path.strip("/").split("/", 1)[0].removesuffix(".py")
    if not top or top.startswith("<") or top in sys.stdlib_module_names:
        return None
    return f"{top} (PromptGate)" if top in PROJECT else top


def summarize(collapsed: Path, top: int) -> str:
    """Where the busy samples go: by owning package (stdlib frames charged to their caller), by frame."""
    own: Counter[str] = Counter()
    owners: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = idle = 0
    for line in collapsed.read_text().splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        frames = [f for f in stack_text.split(";") if f]
        if not count_text.isdigit() or not frames:
            continue
        count = int(count_text)
        if frames[-1].startswith(IDLE_LEAVES):
            idle += count
            continue
        total += count
        own[frames[-1]] += count
        if frames[-1].startswith("Runner.run (asyncio/runners.py"):
            owner = "event loop in C (uvloop: socket I/O, callbacks)"
        else:
            owner = next((o for o in map(_owner, reversed(frames)) if o is not None), "stdlib")
        owners[owner] += count
        for frame in set(frames):  # once per stack, even when it recurses
            inclusive[frame] += count
    if not total:
        return "no busy samples"
    lines = [f"busy samples: {total} (idle thread samples dropped: {idle})", "", "## self time by owner", ""]
    lines += [f"{100 * n / total:5.1f}%  {name}" for name, n in owners.most_common(top)]
    lines += ["", "## self time", ""]
    lines += [f"{100 * n / total:5.1f}%  {frame}" for frame, n in own.most_common(top)]
    lines += ["", "## inclusive time", ""]
    lines += [f"{100 * n / total:5.1f}%  {frame}" for frame, n in inclusive.most_common(top * 2)]
    return "\n".join(lines)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="http_get", choices=[n for n in BY_NAME if n != "chat_stream"])
    parser.add_argument("--db", default="sqlite", choices=["sqlite", "pg"])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--native", action="store_true", help="include C frames (py-spy --native)")
    parser.add_argument(
        "--gil",
        action="store_true",
        help="only samples of the thread holding the GIL (py-spy --gil): CPU, not threads waiting for it",
    )
    args = parser.parse_args()
    py_spy = ensure_py_spy()
    procs = Processes(stack.VAR / "logs")
    out_dir = stack.BENCH_DIR / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    raw = stack.VAR / f"profile-{args.scenario}-{args.db}.txt"
    try:
        ctx = Context(
            mocks={name: stack.start_mock(procs, f"mock-{name}", name) for name in ("http", "llm", "mcp")}
        )
        config = stack.GatewayConfig(args.db, 1)
        ctx.seed = stack.prepare_database(config, ctx.mocks)
        managed, ctx.gateway_port = stack.start_gateway(procs, config)
        tgt = target(BY_NAME[args.scenario], "promptgate", ctx)
        wrk.run(tgt, 8, 2)  # warm: imports, pools and caches are not what we profile
        # The worker itself (not its request-log process, nor the webhook worker gunicorn starts beside it).
        worker = next(g[0] for g in serving_groups(managed.pid) if b"webhook_worker" not in _cmdline(g[0]))
        cmd = [
            str(py_spy),
            "record",
            "-p",
            str(worker),
            "-d",
            str(args.seconds),
            "-r",
            "250",
            "-f",
            "raw",
            "-o",
            str(raw),
        ]
        if args.native:
            cmd.append("--native")
        if args.gil:
            cmd.append("--gil")
        load = threading.Thread(target=wrk.run, args=(tgt, args.connections, args.seconds + 2), daemon=True)
        load.start()
        time.sleep(0.5)
        subprocess.run(cmd, check=True, capture_output=True, timeout=args.seconds + 60)
        load.join(timeout=args.seconds + 30)
    finally:
        procs.stop_all()
    summary = summarize(raw, args.top)
    report = out_dir / f"profile-{args.scenario}-{args.db}.md"
    report.write_text(
        f"# py-spy: {args.scenario}, {args.db}, 1 worker, {args.connections} conns\n\n```\n{summary}\n```\n"
    )
    print(summary)
    print(f"\nwritten: {report} (collapsed stacks: {raw})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
