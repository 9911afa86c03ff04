"""Portkey's open-source gateway (npm `@portkey-ai/gateway`), the second peer: node, installed once under bench/.

Portkey routes by headers, not by a config file: `x-portkey-provider: openai` and
`x-portkey-custom-host` name the upstream (the bench's mock LLM on 127.0.0.1, which Portkey trusts by
default), and the client's bearer token is the upstream key. It runs as one node process (its own
start script, `--headless`: no log UI), the way its README runs it outside Cloudflare Workers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from bench.procs import Managed, Processes, free_port
from bench.stack import BENCH_DIR, REPO, wait_ready

# Pinned so runs compare over time (npm's `latest` on 2026-12-02).
VERSION = "1.15.2"
PREFIX = BENCH_DIR / ".portkey"
START = PREFIX / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"
MODEL = "bench-model"
UPSTREAM_KEY = "sk-bench-upstream"


def installed() -> bool:
    package = PREFIX / "node_modules" / "@portkey-ai" / "gateway" / "package.json"
    return START.exists() and f'"version": "{VERSION}"' in package.read_text()


def install(log: Path) -> bool:
    """`npm install` the pinned version into bench/.portkey once; False, with the log kept, on failure."""
    if installed():
        return True
    npm = shutil.which("npm")
    if npm is None:
        return False
    PREFIX.mkdir(parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        cmd = [
            npm,
            "install",
            "--prefix",
            str(PREFIX),
            "--no-audit",
            "--no-fund",
            f"@portkey-ai/gateway@{VERSION}",
        ]
        subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=600, check=False)
    return installed()


def headers(llm_port: int) -> tuple[tuple[str, str], ...]:
    """What a Portkey client sends to reach the mock LLM as an OpenAI-compatible provider."""
    return (
        ("x-portkey-provider", "openai"),
        ("x-portkey-custom-host", f"http://127.0.0.1:{llm_port}/v1"),
        ("Authorization", f"Bearer {UPSTREAM_KEY}"),
    )


def start(procs: Processes, workers: int) -> tuple[Managed, int]:
    """One node process (Portkey has no worker setting of its own): `workers` only names the row."""
    port = free_port()
    node = shutil.which("node") or "node"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["NODE_ENV"] = "production"
    cmd = [node, str(START), f"--port={port}", "--headless"]
    managed = procs.start(f"portkey-{workers}w", cmd, env, REPO)
    wait_ready(managed, port, "/", "Portkey", port_timeout=60)
    return managed, port
