"""Real `manage.py webhook_worker` processes on the test database, for tests that need several or a kill."""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.servers import BASE_DIR, gateway_env


class WorkerProcess:
    def __init__(self, **env: str) -> None:
        self.env = {
            "PROMPTGATE_WEBHOOK_LEASE_SECONDS": "2",
            "PROMPTGATE_WEBHOOK_UPKEEP_SECONDS": "0.3",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="webhook-worker-", suffix=".log", delete=False)

    def start(self) -> WorkerProcess:
        command = [
            sys.executable,
            "manage.py",
            "webhook_worker",
            "--interval",
            "0.05",
            "--no-startup-delay",
            "-v",
            "2",
        ]
        self.proc = subprocess.Popen(
            command, cwd=BASE_DIR, env=gateway_env(**self.env), stdout=self._log, stderr=self._log
        )
        return self

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()

    def output(self) -> str:
        return Path(self._log.name).read_text(errors="replace")

    def cleanup(self) -> None:
        Path(self._log.name).unlink(missing_ok=True)
