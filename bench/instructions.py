"""`python -m bench.instructions`: instructions per request of the whole serving process (callgrind), for
scenarios against one gateway: a figure the host's speed does not move.

    .venv/bin/python -m bench.instructions --scenarios chat_1k,chat_guard_1k --requests 200 --rounds 3

The gateway runs under `valgrind --tool=callgrind --instr-atstart=no` as one uvicorn process (uvloop,
httptools: the worker gunicorn would fork, without the fork, which callgrind_control cannot follow);
its request-log and webhook processes run natively. Per round and scenario, instrumentation is
switched on, `--requests` requests are sent one after another on one connection, switched off, and
the dump's total is divided by the count. Background work of the process (the config poller, the
writers' threads) is counted too, by the wall time it gets during the requests, so a slower scenario
carries a little more of it; and a full garbage collection (tens of millions of instructions) lands
in some rounds and not others. Hence the rounds, and two readings of them: the median of the paired
differences, and the difference of each scenario's least round (the rounds no collection hit).
"""

from __future__ import annotations

import argparse
import glob
import http.client
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from urllib.parse import urlsplit

from bench import stack
from bench.load.result import Target
from bench.procs import Processes, free_port
from bench.scenarios import BY_NAME, Context, target


def _fire(tgt: Target, count: int) -> None:
    url = urlsplit(tgt.url)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=120)
    path = url.path + (f"?{url.query}" if url.query else "")
    try:
        for _ in range(count):
            conn.request(tgt.method, path, body=tgt.body or None, headers=dict(tgt.headers))
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"{tgt.url} answered {response.status}")
    finally:
        conn.close()


def _total(path: str) -> int:
    with open(path) as dump:
        for line in dump:
            if line.startswith("totals:"):
                return int(line.split()[1])
    raise RuntimeError(f"no totals in {path}")


def _control(*args: str) -> None:
    subprocess.run(["callgrind_control", *args], capture_output=True, check=False, timeout=120)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite", choices=["sqlite", "pg"])
    parser.add_argument("--scenarios", default="chat_1k,chat_guard_1k")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    names = args.scenarios.split(",")
    counts: dict[str, list[int]] = {name: [] for name in names}
    procs = Processes(stack.VAR / "logs")
    dumps = tempfile.mkdtemp(prefix="bench-callgrind-")
    try:
        ctx = Context(mocks={m: stack.start_mock(procs, f"mock-{m}", m) for m in ("http", "llm", "mcp")})
        config = stack.GatewayConfig(args.db, 1)
        ctx.seed = stack.prepare_database(config, ctx.mocks)
        port = free_port()
        cmd = [
            "valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={dumps}/out.%p",
            str(stack.VENV_BIN / "uvicorn"), "promptgate.asgi:application", "--host", "127.0.0.1",
            "--port", str(port), "--loop", "uvloop", "--http", "httptools", "--no-access-log",
            "--log-level", "warning",
        ]  # fmt: skip
        managed = procs.start("promptgate-callgrind", cmd, stack.gateway_env(config), stack.REPO)
        stack.wait_ready(managed, port, "/healthz", "PromptGate", port_timeout=900)
        ctx.gateway_port = port
        pid = str(managed.pid)
        targets = {name: target(BY_NAME[name], "promptgate", ctx) for name in names}
        for name in names:
            _fire(targets[name], 100)  # warm: imports, pools, caches, compiled rules
        for _ in range(args.rounds):
            for name in names:
                for old in glob.glob(f"{dumps}/out.{pid}.*"):
                    os.remove(old)
                _control("-z", pid)
                _control("-i", "on", pid)
                _fire(targets[name], args.requests)
                _control("-i", "off", pid)
                _control("-d", pid)
                time.sleep(1)
                newest = max(glob.glob(f"{dumps}/out.{pid}.*"), key=os.path.getmtime)
                counts[name].append(_total(newest) // args.requests)
    finally:
        procs.stop_all()
        shutil.rmtree(dumps, ignore_errors=True)
    print(f"# {args.db}, one uvicorn process, {args.requests} requests a round, {args.rounds} rounds\n")
    base = names[0]
    for name in names:
        line = f"{name}: {statistics.median(counts[name]):,.0f} instructions per request ({', '.join(f'{c:,}' for c in counts[name])})"
        if name != base:
            deltas = [b - a for a, b in zip(counts[base], counts[name], strict=True)]
            middle = statistics.median(deltas)
            least = min(counts[name]) - min(counts[base])
            line += (
                f"; against {base}: median of the rounds' differences {middle:+,.0f} "
                f"({100 * middle / statistics.median(counts[base]):+.1f}%), "
                f"difference of the least rounds {least:+,.0f} ({100 * least / min(counts[base]):+.1f}%)"
            )
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
