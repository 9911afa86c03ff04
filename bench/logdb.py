"""Shared by the request-log benches: a scratch database of their own, synthetic rows, RSS.

`--database-url` picks it (default: a SQLite file under bench/var/); a PostgreSQL database named in the
URL is created if missing and migrated, so the benches never touch the gateway's own data.
"""

from __future__ import annotations

import bisect
import datetime
import itertools
import os
import random
import uuid
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import django
import psycopg
from django.conf import settings
from django.core.management import call_command
from django.db import connection

if TYPE_CHECKING:
    from gateways.common.logrows import RequestLogRow

BENCH_VAR = Path(__file__).resolve().parent / "var"
DEFAULT_SQLITE = BENCH_VAR / "logs-bench.sqlite3"
ENDPOINTS = ["chat.completions", "embeddings", "orders", "search", "tools/call", "responses"]
MODELS = ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4", "text-embedding-3-small", ""]
STATUSES = [200] * 90 + [201] * 3 + [400, 401, 404, 429, 429, 500, 502]


def setup(database_url: str | None) -> str:
    """Point Django at the scratch database, create and migrate it; returns its vendor."""
    url = database_url or f"sqlite:///{DEFAULT_SQLITE}"
    if url.startswith("postgres"):
        _create_pg_database(url)
    else:
        BENCH_VAR.mkdir(parents=True, exist_ok=True)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "promptgate.settings")
    os.environ.setdefault("DEBUG", "true")
    os.environ.setdefault("PROMPTGATE_LOG_PRUNE_INTERVAL_SECONDS", "0")  # the bench prunes when it says

    django.setup()

    call_command("migrate", verbosity=0)

    settings.DEBUG = False  # DEBUG's cursor records every query: a cost production does not pay
    return connection.vendor


def _create_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1].split("?")[0]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


class RowMaker:
    """Plausible request-log rows: a few hundred projects of Zipf-like traffic (the busiest ~1/6 of all
    rows, the quietest a few a day), more tokens for the busy ones, skewed endpoints."""

    def __init__(self, projects: int = 300, seed: int = 1) -> None:
        self.rand = random.Random(seed)
        self.projects = [str(uuid.UUID(int=self.rand.getrandbits(128))) for _ in range(projects)]
        weights = [1 / rank for rank in range(1, projects + 1)]  # Zipf, s = 1
        self.cum_weights = list(itertools.accumulate(weights))
        self.tokens = {
            p: [f"pg_live_{self.rand.getrandbits(24):06x}" for _ in range(12 if rank < 10 else 3)]
            for rank, p in enumerate(self.projects)
        }

    def row(self, at: datetime.datetime) -> RequestLogRow:
        rand = self.rand
        project = self.projects[bisect.bisect(self.cum_weights, rand.random() * self.cum_weights[-1])]
        endpoint = ENDPOINTS[min(int(rand.expovariate(0.8)), len(ENDPOINTS) - 1)]
        ai = endpoint in ("chat.completions", "embeddings", "responses")
        status = rand.choice(STATUSES)
        row: RequestLogRow = {
            "time": at,
            "project_uuid": project,
            "gateway": "ai" if ai else "http",
            "endpoint": endpoint,
            "method": "POST",
            "path": f"/api/{project}/{endpoint}",
            "token_prefix": rand.choice(self.tokens[project]),
            "status": status,
            "latency_ms": rand.lognormvariate(4, 0.8),
            "bytes_in": rand.randrange(200, 4000),
            "bytes_out": rand.randrange(200, 40000),
            "error_code": "" if status < 400 else "upstream_error",
            "request_id": uuid.UUID(int=rand.getrandbits(128)).hex,
        }
        if ai:
            row["provider"] = "openai"
            row["model"] = rand.choice(MODELS[:4])
            row["tokens_in"] = rand.randrange(10, 2000)
            row["tokens_out"] = rand.randrange(10, 800)
            row["cost"] = Decimal(f"{rand.randrange(1, 10**6) / 10**8:.8f}")
        return row


def rss_mb() -> float:
    """This process's resident set (MB), from /proc."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
