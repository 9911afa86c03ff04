"""MCP list fan-out: tools/list over 1 and 5 upstreams, each upstream taking a fixed time to list.

`python -m bench.mcp_fanout [--delay-ms 20] [--requests 200] [--db sqlite|pg]` starts the MCP mock with
that list delay, PromptGate (one worker, list cache off, so every list reaches the upstreams), seeds a
project with one upstream and one with five, and reports p50/p99 latency of tools/list for each beside
a direct list of the mock. A fan-out that lists concurrently costs about one upstream round trip over
five upstreams; a sequential one, five. Writes bench/results/mcp-fanout.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import urllib.request

from bench.procs import Processes
from bench.stack import BENCH_DIR, VAR, GatewayConfig, prepare_database, start_gateway, start_mock

HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


def _post(url: str, message: dict, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, json.dumps(message).encode(), headers, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()


def _session(url: str, headers: dict[str, str]) -> dict[str, str]:
    params = {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "bench", "version": "1"},
    }
    _, answer, _ = _post(url, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params}, headers)
    session = {**headers, "MCP-Protocol-Version": "2025-06-18"}
    if "mcp-session-id" in answer:
        session["Mcp-Session-Id"] = answer["mcp-session-id"]
    _post(url, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session)
    return session


def _latencies(url: str, headers: dict[str, str], count: int) -> tuple[list[float], int]:
    session = _session(url, headers)
    times, tools = [], 0
    for i in range(count):
        started = time.perf_counter()
        status, _, body = _post(url, {"jsonrpc": "2.0", "id": i + 2, "method": "tools/list"}, session)
        times.append((time.perf_counter() - started) * 1000)
        assert status == 200, body[:200]
        tools = len(json.loads(body)["result"]["tools"])
    return times, tools


def _row(label: str, times: list[float], tools: int) -> str:
    ordered = sorted(times)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"| {label} | {tools} | {statistics.median(ordered):.2f} | {p99:.2f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay-ms", type=float, default=20)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--db", choices=("sqlite", "pg"), default="sqlite")
    args = parser.parse_args()
    procs = Processes(VAR / "logs")
    try:
        mcp = start_mock(procs, "mcp-mock", "mcp", {"BENCH_MCP_LIST_DELAY_MS": str(args.delay_ms)})
        ports = {"http": mcp, "llm": mcp, "mcp": mcp}
        config = GatewayConfig(args.db, 1)
        seed = prepare_database(config, ports)["mcp_fanout"]
        _, port = start_gateway(procs, config, {"PROMPTGATE_MCP_LIST_CACHE_SECONDS": "0"})
        rows = []
        direct, tools = _latencies(f"http://127.0.0.1:{mcp}/mcp", HEADERS, args.requests)
        rows.append(_row("direct: the mock's tools/list", direct, tools))
        for count in ("1", "5"):
            project = seed[count]
            url = f"http://127.0.0.1:{port}/api/{project['uuid']}/mcp"
            headers = {**HEADERS, "Authorization": f"Bearer {project['token']}"}
            _latencies(url, headers, 5)  # warm: config cache, upstream sessions
            times, tools = _latencies(url, headers, args.requests)
            rows.append(_row(f"PromptGate, {count} upstream(s)", times, tools))
    finally:
        procs.stop_all()
    command = (
        f"python -m bench.mcp_fanout --delay-ms {args.delay_ms:g} --requests {args.requests} --db {args.db}"
    )
    report = "\n".join(
        [
            f"# MCP list fan-out ({time.strftime('%Y-%m-%d %H:%M')})",
            "",
            f"`{command}`: every upstream's tools/list takes {args.delay_ms:g} ms; the gateway's list cache is",
            "off, so each gateway list reaches every upstream. One connection, sequential requests.",
            "",
            "| side | tools | p50 ms | p99 ms |",
            "|---|---|---|---|",
            *rows,
            "",
        ]
    )
    (BENCH_DIR / "results" / "mcp-fanout.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
