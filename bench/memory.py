"""Issue 9 §3, memory: 1,000 concurrent open streams (worker RSS, DB connections held) and an RSS soak.

`memory_streams`: N chat-completion SSE streams through PromptGate at once, against a mock that keeps
each one open (a chunk a second, ~20 s); while all are open we read every worker's VmRSS from /proc and
count the database connections (PostgreSQL: `pg_stat_activity` rows of the bench database; SQLite: file
descriptors on the database file under /proc/<pid>/fd), against the same counts idle and afterwards.

`memory_soak`: many requests in wrk segments of about `every` requests each, the workers' RSS read after
each segment; the slope is a least-squares fit over the second half (the first half is warm-up: caches,
pools, pymalloc arenas and SQLite's page cache fill there).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psycopg

from bench.load import pyload, wrk
from bench.load.pyload import percentile
from bench.load.result import Target
from bench.procs import descendants, serving_groups, vmrss_kb

PG_DATABASE = "promptgate_bench"
# Soak verdict: after warm-up, RSS grows by less than 100 KB per 10,000 requests (≈ 1 MB per 100k).
SLOPE_LIMIT_KB_PER_10K = 100.0
# Streams verdict: each worker stays under this RSS with its share of the 1,000 open streams.
STREAM_RSS_LIMIT_MB_PER_WORKER = 256.0


def worker_rss_kb(pid: int) -> list[int]:
    """VmRSS (KB) of each serving process with its helpers (its request-log process): the workers
    when the root forked some, else the root."""
    return [vmrss_kb(group) for group in serving_groups(pid)]


def sqlite_fds(pid: int, db_file: Path) -> tuple[int, int]:
    """(descriptors on the database file, descriptors on it plus its -wal/-shm/-journal) in the tree."""
    main = total = 0
    name = str(db_file)
    for member in descendants(pid):
        fd_dir = Path(f"/proc/{member}/fd")
        try:
            fds = list(fd_dir.iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target == name:
                main += 1
            if target.startswith(name):
                total += 1
    return main, total


class DbCounter:
    """Counts the database connections the gateway holds (PostgreSQL) or its descriptors (SQLite)."""

    def __init__(self, db: str, pid: int, sqlite_file: Path) -> None:
        self.db = db
        self.pid = pid
        self.sqlite_file = sqlite_file
        self.conn: Any = None
        if db == "pg":
            # Connected to another database, so this probe is not among the rows it counts.
            self.conn = psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True)

    @property
    def what(self) -> str:
        if self.db == "pg":
            return f"pg_stat_activity rows with datname = '{PG_DATABASE}' (all clients of the bench db)"
        return f"fds on {self.sqlite_file.name} in the gateway's processes (in brackets: with -wal/-shm)"

    def count(self) -> str:
        if self.db == "pg":
            row = self.conn.execute(
                "SELECT count(*), count(*) FILTER (WHERE state = 'active') FROM pg_stat_activity "
                "WHERE datname = %s",
                (PG_DATABASE,),
            ).fetchone()
            return f"{row[0]} ({row[1]} active)"
        main, total = sqlite_fds(self.pid, self.sqlite_file)
        return f"{main} ({total})"

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


@dataclass
class StreamsResult:
    config: str
    streams: int
    chunk_ms: float
    chunks: int
    workers: int = 0
    opened: int = 0  # streams that got their first byte
    completed: int = 0  # streams that ended with [DONE]
    errors: int = 0
    max_open: int = 0  # streams open at once (first byte in, end not yet) at the fullest sample
    events_min: int | None = None
    events_max: int | None = None
    ttfb_p50_ms: float | None = None
    ttfb_p99_ms: float | None = None
    seconds: float = 0.0
    idle_rss_kb: list[int] = field(default_factory=list)
    plateau_rss_kb: list[int] = field(default_factory=list)  # the sample with the largest sum
    after_rss_kb: list[int] = field(default_factory=list)
    db_what: str = ""
    idle_db: str = ""
    plateau_db: list[str] = field(default_factory=list)  # one per plateau sample
    after_db: str = ""
    note: str = ""


async def _open_streams(
    target: Target, result: StreamsResult, timeout_s: float, sample: Callable[[int], None]
) -> None:
    ttfbs: list[float] = []
    events_seen: list[int] = []
    state = {"opened": 0, "finished": 0}
    # One connection per stream, no pool limit: the point is N sockets and N requests open at once.
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one() -> None:
            started = time.perf_counter()
            got_first = False
            try:
                async with session.request(
                    target.method, target.url, data=target.body, headers=dict(target.headers)
                ) as r:
                    if r.status != 200:
                        await r.read()
                        result.errors += 1
                        return
                    pending, events, done = b"", 0, False
                    async for chunk in r.content.iter_any():
                        if not got_first:
                            got_first = True
                            state["opened"] += 1
                            ttfbs.append((time.perf_counter() - started) * 1000)
                        pending += chunk
                        *complete, pending = pending.split(b"\n\n")
                        for event in complete:
                            if event == b"data: [DONE]":
                                done = True
                            elif event.startswith(b"data:"):
                                events += 1
                    events_seen.append(events)
                    if done:
                        result.completed += 1
                    else:
                        result.errors += 1
            except (TimeoutError, aiohttp.ClientError, OSError):
                result.errors += 1
            finally:
                if got_first:
                    state["finished"] += 1

        started = time.perf_counter()
        tasks = [asyncio.create_task(one()) for _ in range(result.streams)]
        # Plateau: wait until every stream has its first byte (or failed), then sample until one ends.
        open_deadline = started + max(5.0, result.chunk_ms * result.chunks / 1000 / 2)
        while (
            state["opened"] + result.errors < result.streams
            and time.perf_counter() < open_deadline
            and not all(t.done() for t in tasks)
        ):
            await asyncio.sleep(0.2)
        for _ in range(int(result.chunk_ms * result.chunks / 1000) + 5):  # bounded: at most the stream
            open_now = state["opened"] - state["finished"]
            if state["finished"] or open_now <= 0:
                break
            await asyncio.to_thread(sample, open_now)
            await asyncio.sleep(1.0)
        await asyncio.gather(*tasks)
        result.seconds = time.perf_counter() - started
    ttfbs.sort()
    result.opened = state["opened"]
    result.ttfb_p50_ms, result.ttfb_p99_ms = percentile(ttfbs, 50), percentile(ttfbs, 99)
    if events_seen:
        result.events_min, result.events_max = min(events_seen), max(events_seen)


def streams(
    target: Target, config: str, pid: int, counter: DbCounter, n: int, chunk_ms: float, chunks: int
) -> StreamsResult:
    """Open n streams at once through the gateway rooted at pid; RSS and DB counts idle, open, after."""
    result = StreamsResult(config=config, streams=n, chunk_ms=chunk_ms, chunks=chunks)
    result.db_what = counter.what
    result.idle_rss_kb = worker_rss_kb(pid)
    result.workers = len(result.idle_rss_kb)
    result.idle_db = counter.count()

    def sample(open_now: int) -> None:
        rss = worker_rss_kb(pid)
        result.plateau_db.append(counter.count())
        if open_now >= result.max_open:
            result.max_open = open_now
        if sum(rss) >= sum(result.plateau_rss_kb):
            result.plateau_rss_kb = rss

    stream_seconds = chunk_ms * chunks / 1000
    asyncio.run(_open_streams(target, result, stream_seconds + 60, sample))
    time.sleep(2)  # let the request-log writer flush what the streams left
    result.after_rss_kb = worker_rss_kb(pid)
    result.after_db = counter.count()
    if result.max_open < n:
        result.note = f"only {result.max_open} of {n} open at the fullest sample"
    return result


@dataclass
class SoakResult:
    config: str
    scenario: str
    target_requests: int
    every: int
    connections: int
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    samples: list[tuple[int, float, int]] = field(default_factory=list)  # (requests, seconds, RSS KB)
    slope_kb_per_10k: float | None = None
    second_half_growth_kb: int | None = None
    limit_kb_per_10k: float = SLOPE_LIMIT_KB_PER_10K
    note: str = ""

    @property
    def verdict(self) -> str:
        if self.slope_kb_per_10k is None:
            return "not measured"
        return "PASS" if self.slope_kb_per_10k < self.limit_kb_per_10k else "FAIL"


def slope(points: list[tuple[int, int]]) -> float | None:
    """Least-squares slope of RSS KB over requests, in KB per 10,000 requests."""
    if len(points) < 3:
        return None
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if not sxx:
        return None
    sxy = sum((x - mx) * (y - my) for x, y in points)
    return sxy / sxx * 10_000


def soak(
    target: Target,
    config: str,
    scenario: str,
    pid: int,
    count: int,
    every: int,
    connections: int,
    max_seconds: float,
    use_wrk: bool,
    log: Callable[[str], None],
) -> SoakResult:
    """Fire `count` requests in segments of ~`every`; RSS (sum over workers) after each segment."""
    result = SoakResult(config, scenario, count, every, connections)
    started = time.monotonic()
    result.samples.append((0, 0.0, sum(worker_rss_kb(pid))))
    rps: float | None = None
    failures = 0
    runner = wrk.run if use_wrk else pyload.run
    next_log = count // 10
    while result.requests < count and time.monotonic() - started < max_seconds and failures < 3:
        want = min(every, count - result.requests)
        seconds = 2 if rps is None else max(1, round(want / rps))
        load = runner(target, connections, seconds)
        if load.requests == 0:
            failures += 1
            result.note = load.note or "a segment completed no request"
            continue
        result.requests += load.requests
        result.errors += load.errors
        rps = load.rps or rps
        result.samples.append((result.requests, time.monotonic() - started, sum(worker_rss_kb(pid))))
        if result.requests >= next_log:
            log(
                f"soak {scenario} {config}: {result.requests:,}/{count:,} requests, "
                f"RSS {result.samples[-1][2] / 1024:.1f} MB, {rps or 0:,.0f} RPS"
            )
            next_log += count // 10
    result.seconds = time.monotonic() - started
    if result.requests < count:
        why = "time cap" if time.monotonic() - started >= max_seconds else "load failures"
        result.note = (result.note + f" stopped at {result.requests:,} of {count:,} ({why})").strip()
    half = result.requests / 2
    second = [(req, rss) for req, _s, rss in result.samples if req >= half]
    result.slope_kb_per_10k = slope(second)
    if second:
        result.second_half_growth_kb = second[-1][1] - second[0][1]
    return result
