"""Fallback load generator (asyncio + aiohttp) for machines without wrk: real percentiles, not averages."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from bench.load.result import LoadResult, Target


def percentile(sorted_values: list[float], pct: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


async def _worker(
    session: aiohttp.ClientSession,
    target: Target,
    deadline: float,
    out: LoadResult,
    lat: list[float],
    overheads: list[float],
) -> None:
    headers = dict(target.headers)
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        try:
            async with session.request(
                target.method, target.url, data=target.body or None, headers=headers
            ) as r:
                await r.read()
                status = r.status
                overhead = r.headers.get("x-promptgate-overhead-ms")
        except (TimeoutError, aiohttp.ClientError):
            out.errors += 1
            continue
        lat.append((time.perf_counter() - started) * 1000)
        out.statuses[status] = out.statuses.get(status, 0) + 1
        if status >= 400:
            out.errors += 1
        if overhead is not None:
            overheads.append(float(overhead))


async def _run(target: Target, connections: int, seconds: float) -> LoadResult:
    out = LoadResult(tool="python-aiohttp")
    latencies: list[float] = []
    overheads: list[float] = []
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = time.perf_counter()
        deadline = started + seconds
        workers = (_worker(session, target, deadline, out, latencies, overheads) for _ in range(connections))
        await asyncio.gather(*workers)
        out.seconds = time.perf_counter() - started
    latencies.sort()
    out.requests = len(latencies)
    out.rps = out.requests / out.seconds if out.seconds else 0.0
    out.p50_ms, out.p90_ms, out.p99_ms = (percentile(latencies, p) for p in (50, 90, 99))
    out.overhead_ms = sum(overheads) / len(overheads) if overheads else None
    return out


def run(target: Target, connections: int, seconds: float) -> LoadResult:
    return asyncio.run(_run(target, connections, seconds))
