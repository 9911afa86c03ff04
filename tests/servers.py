"""Real gateway processes for tests: `uvicorn promptgate.asgi:application` on a free 127.0.0.1 port.

A `GatewayProcess` serves the *test* database (created by pytest-django before it starts) and the
test run's Redis namespace, so data a test commits is what the process sees. Its stderr goes to a
file that is printed when it fails to start or when a test asks for it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import httpx
from django.conf import settings

BASE_DIR = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_database_url() -> str:
    """DATABASE_URL of the test database this pytest process uses (call after the DB was created)."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    user = quote(db.get("USER") or "", safe="")
    password = quote(db.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}{port}/{db['NAME']}"


def gateway_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(
        DEBUG="1",
        DATABASE_URL=test_database_url(),
        PROMPTGATE_SSRF_ALLOW="127.0.0.0/8",
        PROMPTGATE_CONFIG_POLL_SECONDS="0.1",
        PROMPTGATE_WRITER_FLUSH_SECONDS="0.2",
        PYTHONUNBUFFERED="1",
    )
    if settings.REDIS_URL:
        env.update(REDIS_URL=settings.REDIS_URL, PROMPTGATE_REDIS_PREFIX=settings.PROMPTGATE_REDIS_PREFIX)
    else:
        env.pop("REDIS_URL", None)
    env.update(extra)
    return env


class ChildProcess:
    """A process of the project started by a test on the test database; its output goes to a log file."""

    log_prefix = "child-"

    def __init__(self, **env: str) -> None:
        self.extra_env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self._log = tempfile.NamedTemporaryFile(prefix=self.log_prefix, suffix=".log", delete=False)

    def _spawn(self, command: list[str]) -> subprocess.Popen[bytes]:
        self.proc = subprocess.Popen(
            command, cwd=BASE_DIR, env=gateway_env(**self.extra_env), stdout=self._log, stderr=self._log
        )
        return self.proc

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def output(self) -> str:
        return Path(self._log.name).read_text(errors="replace")

    def stop(self) -> None:
        """SIGTERM (a graceful shutdown), then SIGKILL after 10 s."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()

    def cleanup(self) -> None:
        Path(self._log.name).unlink(missing_ok=True)


class GatewayProcess(ChildProcess):
    """One uvicorn worker serving PromptGate; `url(path)` addresses it."""

    log_prefix = "gateway-"

    def __init__(self, **env: str) -> None:
        super().__init__(**env)
        self.port = free_port()

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self, timeout: float = 30.0) -> GatewayProcess:
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "promptgate.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--lifespan",
            "on",
            "--no-access-log",
            "--timeout-graceful-shutdown",
            "5",
        ]
        proc = self._spawn(command)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"gateway exited with {proc.returncode}:\n{self.output()}")
            try:
                if httpx.get(self.url("/healthz"), timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass  # not listening yet
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gateway did not become healthy in {timeout}s:\n{self.output()}")

    def config_version(self) -> int:
        """The shared config version this process has adopted (from its /metrics)."""
        text = httpx.get(self.url("/metrics"), timeout=5).text
        return int(text.rsplit("promptgate_config_version ", 1)[1].split()[0])

    def sync_config(self, timeout: float = 5.0) -> None:
        """Bump the shared config version and wait until this process has adopted it.

        A test's database flush bypasses the save signals, so a gateway process can still hold
        snapshots from the previous test until its next poll; the bump guarantees they are dropped.
        """
        from gateways.common import versioning

        versioning._bump_shared()
        target = versioning.read_shared()
        deadline = time.monotonic() + timeout
        while self.config_version() != target:
            if time.monotonic() > deadline:
                raise AssertionError(f"gateway still at config version {self.config_version()}, not {target}")
            time.sleep(0.05)


@contextmanager
def running_gateways(count: int = 2, **env: str) -> Iterator[list[GatewayProcess]]:
    """`count` gateway processes sharing the test database (and Redis when configured), each with the
    same extra environment; stopped and their logs removed on the way out, even when one failed to start
    (printed first when PROMPTGATE_SHOW_GATEWAY_LOG is set)."""
    processes = [GatewayProcess(**env) for _ in range(count)]
    try:
        for process in processes:
            process.start()
        yield processes
    finally:
        for process in processes:
            process.stop()
            if os.environ.get("PROMPTGATE_SHOW_GATEWAY_LOG"):
                print(process.output())
            process.cleanup()


@contextmanager
def running_gateway(**env: str) -> Iterator[GatewayProcess]:
    """One gateway process with that extra environment (see `running_gateways`)."""
    with running_gateways(1, **env) as (process,):
        yield process
