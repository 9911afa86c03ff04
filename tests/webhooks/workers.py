"""Real `manage.py webhook_worker` processes on the test database, for tests that need several or a kill."""

from __future__ import annotations

import sys

from tests.servers import ChildProcess


class WorkerProcess(ChildProcess):
    """One `manage.py webhook_worker` (short lease and upkeep, so a killed worker's jobs come back soon)."""

    log_prefix = "webhook-worker-"

    def __init__(self, **env: str) -> None:
        super().__init__(
            **{"PROMPTGATE_WEBHOOK_LEASE_SECONDS": "2", "PROMPTGATE_WEBHOOK_UPKEEP_SECONDS": "0.3", **env}
        )

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
        self._spawn(command)
        return self

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)
