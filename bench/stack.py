"""Servers under test: mock upstreams, bare proxy, PromptGate (SQLite, or PostgreSQL + Redis), N workers."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from cryptography.fernet import Fernet

from bench.procs import Managed, Processes, free_port, wait_port

REPO = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO / "bench"
VAR = BENCH_DIR / "var"
PG_URL = "postgres://postgres@127.0.0.1:5432/promptgate_bench"
REDIS_URL = "redis://127.0.0.1:6379/0"
VENV_BIN = Path(sys.executable).parent
# Settings and secrets of the user's shell must not leak into the gateway under test.
SCRUBBED = ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "PROMPTGATE_VAR_DIR")


@dataclass(frozen=True)
class GatewayConfig:
    db: str  # "sqlite" | "pg"
    workers: int

    @property
    def label(self) -> str:
        return f"{'SQLite' if self.db == 'sqlite' else 'PostgreSQL + Redis'}, {self.workers} worker(s)"


def _secret(name: str, make: Any) -> str:
    path = VAR / name
    if not path.exists():
        VAR.mkdir(parents=True, exist_ok=True)
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


def gateway_env(config: GatewayConfig) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    env.update(
        {
            # Production mode: DEBUG off, so nothing debug-only (query logging) slows the path.
            "DEBUG": "false",
            "SECRET_KEY": _secret("secret_key", lambda: secrets.token_urlsafe(50)),
            "PROMPTGATE_ENCRYPTION_KEYS": _secret("fernet_key", lambda: Fernet.generate_key().decode()),
            "PROMPTGATE_VAR_DIR": str(VAR / config.db),
            "PROMPTGATE_SSRF_ALLOW": "127.0.0.0/8",
            "PROMPTGATE_REDIS_PREFIX": "pgbench",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if config.db == "pg":
        env["DATABASE_URL"] = PG_URL
        env["REDIS_URL"] = REDIS_URL
    return env


def ensure_pg_database() -> None:
    try:
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = 'promptgate_bench'").fetchone()
            if not exists:
                conn.execute("CREATE DATABASE promptgate_bench")
    except psycopg.Error as exc:  # no PostgreSQL here: that configuration is reported, the rest runs
        raise RuntimeError(f"PostgreSQL at 127.0.0.1:5432 is not usable: {exc}") from exc


def _manage(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return done.stdout


def prepare_database(config: GatewayConfig, ports: dict[str, int]) -> dict[str, Any]:
    """Migrate the bench database and seed fresh projects; returns the seed's targets."""
    env = gateway_env(config)
    if config.db == "pg":
        ensure_pg_database()
    (VAR / config.db).mkdir(parents=True, exist_ok=True)
    _manage(["manage.py", "migrate", "--noinput", "-v0"], env)
    out = _manage(
        [
            "-m",
            "bench.seed",
            f"--http-port={ports['http']}",
            f"--llm-port={ports['llm']}",
            f"--mcp-port={ports['mcp']}",
            f"--slow-llm-port={ports.get('llm_slow', 0)}",
        ],
        env,
    )
    line = next(ln for ln in out.splitlines() if ln.startswith("BENCH_SEED "))
    return json.loads(line.removeprefix("BENCH_SEED "))


def start_mock(procs: Processes, name: str, module: str, env_extra: dict[str, str] | None = None) -> int:
    port = free_port()
    cmd = [
        sys.executable, "-m", "uvicorn", f"bench.mocks.{module}:app",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    env = {**os.environ, **(env_extra or {})}
    managed = procs.start(name, cmd, env, REPO)
    wait_port(port, 20, managed.proc)
    return port


def start_gateway(
    procs: Processes, config: GatewayConfig, extra_env: dict[str, str] | None = None
) -> tuple[Managed, int]:
    port = free_port()
    cmd = [
        str(VENV_BIN / "gunicorn"), "promptgate.asgi:application",
        "-c", "promptgate/gunicorn_conf.py",
        "--bind", f"127.0.0.1:{port}", "--workers", str(config.workers),
    ]  # fmt: skip
    env = {**gateway_env(config), **(extra_env or {})}
    managed = procs.start(f"promptgate-{config.db}-{config.workers}w", cmd, env, REPO)
    wait_ready(managed, port, "/healthz", "PromptGate")
    return managed, port


def start_bare_proxy(procs: Processes, mocks: dict[str, int], workers: int) -> tuple[Managed, int]:
    """bench/mocks/bare_proxy.py served exactly as PromptGate is: gunicorn, its config, uvicorn workers."""
    port = free_port()
    cmd = [
        str(VENV_BIN / "gunicorn"), "bench.mocks.bare_proxy:app",
        "-c", "promptgate/gunicorn_conf.py",
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    env.update(
        {
            "BENCH_BARE_HTTP_URL": f"http://127.0.0.1:{mocks['http']}",
            "BENCH_BARE_LLM_URL": f"http://127.0.0.1:{mocks['llm']}",
            # Only satisfies the config's refusal of N workers without a shared cache: the proxy keeps no
            # limits, so nothing reads it.
            "REDIS_URL": REDIS_URL,
            # The config's start-up hook reads settings (which want a secret key outside development
            # mode) to start webhook workers: the bare proxy runs none, and keys nothing.
            "DEBUG": "true",
            "PROMPTGATE_WEBHOOK_WORKERS": "0",
            "PYTHONUNBUFFERED": "1",
        }
    )
    managed = procs.start(f"bare-proxy-{workers}w", cmd, env, REPO)
    wait_ready(managed, port, "/http/small", "the bare proxy")
    return managed, port


def wait_ready(managed: Managed, port: int, path: str, what: str, port_timeout: float = 60) -> None:
    """Wait for the server's port, then for `path` to answer; RuntimeError with its log tail if not."""
    try:
        wait_port(port, port_timeout, managed.proc)
        wait_http(f"http://127.0.0.1:{port}{path}", 60)
    except (RuntimeError, TimeoutError) as exc:
        raise RuntimeError(f"{what} did not start: {exc}\n{managed.tail()}") from exc


def wait_http(url: str, timeout: float, headers: dict[str, str] | None = None) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=5) as r:
                if r.status < 500:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
            last = f"HTTP {exc.code}"
        except (OSError, urllib.error.URLError) as exc:
            last = str(exc)
        time.sleep(0.25)
    raise TimeoutError(f"{url} not ready after {timeout:.0f}s ({last})")


def probe(url: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
    """One request: (status, body, lower-cased headers); status 0 when the connection failed."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST" if body else "GET")
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, r.read(), {k.lower(): v for k, v in r.headers.items()}
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), {k.lower(): v for k, v in exc.headers.items()}
    except (OSError, urllib.error.URLError) as exc:
        return 0, str(exc).encode(), {}
