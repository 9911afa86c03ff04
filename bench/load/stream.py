"""SSE client for the streaming scenario: time to first byte and chunks per second over many streams."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import aiohttp

from bench.load.pyload import percentile
from bench.load.result import Target


@dataclass
class StreamResult:
    streams: int = 0
    seconds: float = 0.0
    streams_per_s: float = 0.0
    chunks_per_s: float = 0.0  # SSE events received per second, all streams together
    ttfb_p50_ms: float | None = None
    ttfb_p90_ms: float | None = None
    ttfb_p99_ms: float | None = None
    errors: int = 0
    overhead_ms: float | None = None
    note: str = ""


async def _one(session: aiohttp.ClientSession, target: Target) -> tuple[float, int, float | None]:
    """(ttfb ms, SSE events, overhead header) of one streamed completion."""
    started = time.perf_counter()
    async with session.request(
        target.method, target.url, data=target.body, headers=dict(target.headers)
    ) as r:
        if r.status != 200:
            await r.read()
            raise aiohttp.ClientResponseError(r.request_info, (), status=r.status)
        overhead = r.headers.get("x-promptgate-overhead-ms")
        ttfb: float | None = None
        events = 0
        pending = b""
        async for chunk in r.content.iter_any():
            if ttfb is None:
                ttfb = (time.perf_counter() - started) * 1000
            pending += chunk
            # Count whole events only; [DONE] is the end marker, not content.
            *complete, pending = pending.split(b"\n\n")
            events += sum(1 for e in complete if e.startswith(b"data:") and e != b"data: [DONE]")
    return ttfb or 0.0, events, float(overhead) if overhead is not None else None


async def _run(target: Target, connections: int, seconds: float, max_streams: int) -> StreamResult:
    out = StreamResult()
    ttfbs: list[float] = []
    overheads: list[float] = []
    events_total = 0
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
        started = time.perf_counter()
        deadline = started + seconds

        async def worker() -> None:
            nonlocal events_total
            while time.perf_counter() < deadline and len(ttfbs) + out.errors < max_streams:
                try:
                    ttfb, events, overhead = await _one(session, target)
                except (TimeoutError, aiohttp.ClientError):
                    out.errors += 1
                    continue
                ttfbs.append(ttfb)
                events_total += events
                if overhead is not None:
                    overheads.append(overhead)

        await asyncio.gather(*(worker() for _ in range(connections)))
        out.seconds = time.perf_counter() - started
    ttfbs.sort()
    out.streams = len(ttfbs)
    out.streams_per_s = out.streams / out.seconds if out.seconds else 0.0
    out.chunks_per_s = events_total / out.seconds if out.seconds else 0.0
    out.ttfb_p50_ms, out.ttfb_p90_ms, out.ttfb_p99_ms = (percentile(ttfbs, p) for p in (50, 90, 99))
    out.overhead_ms = sum(overheads) / len(overheads) if overheads else None
    return out


def run(target: Target, connections: int, seconds: float, max_streams: int = 100_000) -> StreamResult:
    return asyncio.run(_run(target, connections, seconds, max_streams))
