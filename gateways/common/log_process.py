"""The request-log writer's own process: the serving process ships batches of rows to it over a pipe.

Why a process: a writer thread shares the serving process's GIL, and uvloop takes the GIL again for
every I/O callback. While a writer thread runs Python (encoding rows, driving the database client),
each of those takes waits for it, so one busy flush slows every request in flight. Measured with the
writer switched off during the runs (bench/results/ab-writer-off.md): +40% to +120% RPS at 32
connections, -29% to -65% added p99 at one. In its own process the writing runs beside the event loop,
on another core when there is one, and the serving process only pickles a batch (well under 1 µs a
row, in C) and writes it to a pipe.

Protocol, parent to child on stdin: a 4-byte big-endian length, then a pickled (batch id, list of row
dicts) (our own rows, from our own process, over an anonymous pipe: nothing untrusted is ever
unpickled). Child to parent on stdout: `ready` once Django is set up, then `ok` or `failed` per batch,
after its transaction ended, so the writer's counts (written, failed, dropped) mean what they meant
in-process. End of stdin: the child exits; the parent closes stdin at shutdown, after the last batch.

A child that dies with a batch unanswered may have committed it or not: the parent starts another and
sends the same batch again, once, under the same id. The batch's id is written in the batch's
transaction (logrows.py), so a batch already committed is skipped: the raw rows and the rollups count
it once either way.

Between batches, when no batch is waiting, the child runs retention one bounded step at a time
(audit/maintenance.py: one process prunes at a time across hosts).
"""

from __future__ import annotations

import logging
import os
import pickle
import select
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import django
from django.conf import settings

if TYPE_CHECKING:
    from gateways.common.logrows import RequestLogRow

logger = logging.getLogger(__name__)

DB_NAME_ENV = "PROMPTGATE_LOG_PROCESS_DB_NAME"  # the parent's database (a test run's test database)
READY, OK, FAILED = b"ready\n", b"ok\n", b"failed\n"
CHILD_APPS = ("django.contrib.contenttypes", "django.contrib.auth", "audit")


class LogProcessError(RuntimeError):
    """The child is gone or could not write a batch; the batch counts as failed."""


class RequestLogProcess:
    """Parent side, used as a BatchedWriter's flush from its thread: one child, started on demand."""

    def __init__(self, *, startup_timeout: float = 60.0, command: list[str] | None = None) -> None:
        self.startup_timeout = startup_timeout
        self.command = command or [sys.executable, "-m", "gateways.common.log_process"]
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        """Start the child if it is not running, and wait until it can write."""
        if self._proc is not None:
            if self._proc.poll() is None:
                return
            self._discard()  # it died since its last batch: nothing was lost, start another

        env = {**os.environ, DB_NAME_ENV: str(settings.DATABASES["default"]["NAME"])}
        env.setdefault("DJANGO_SETTINGS_MODULE", "promptgate.settings")
        proc = subprocess.Popen(  # noqa: S603 (our interpreter and module; tests substitute a stand-in)
            self.command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=Path(settings.BASE_DIR),
            env=env,
            # Its own session: a Ctrl-C or a signal to the server's process group must not stop it
            # before the serving process has sent its last batch. It ends when its stdin does.
            start_new_session=True,
        )
        self._proc = proc
        assert proc.stdout is not None
        if _readline(proc.stdout, self.startup_timeout) != READY:
            self._discard()
            raise LogProcessError("the request-log process did not start")

    def __call__(self, rows: list[RequestLogRow]) -> None:
        self.start()
        proc = self._proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        payload = pickle.dumps((uuid.uuid4().hex, rows), protocol=pickle.HIGHEST_PROTOCOL)
        status = self._send(payload)
        if status is None:  # it died with the batch: it may have committed it; the id makes a resend safe
            self.start()
            status = self._send(payload)
        if status == OK:
            return
        if status is None:
            raise LogProcessError("the request-log process exited with a batch unanswered")
        raise LogProcessError("the request-log process could not write a batch (see its log)")

    def _send(self, payload: bytes) -> bytes | None:
        """The child's answer to one batch, or None if it died first (and was discarded)."""
        proc = self._proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(len(payload).to_bytes(4, "big"))
            proc.stdin.write(payload)
            proc.stdin.flush()
            status = _await_ack(proc.stdout)
        except OSError:  # BrokenPipeError included: the child died
            status = b""
        if status in (OK, FAILED):
            return status
        self._discard()  # end of file: the child died mid-batch
        return None

    def close(self, timeout: float = 10.0) -> None:
        """Let the child finish and exit (every batch sent so far was acknowledged already)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            try:
                proc.stdin.close()
            except OSError:
                pass  # already gone
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def _discard(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()
            proc.wait()
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    try:
                        stream.close()
                    except OSError:
                        pass  # a broken pipe has nothing left to flush


def _await_ack(stream: IO[bytes]) -> bytes:
    """The child's answer to a batch. Its own function so that profilers can tell this blocked read
    (no CPU, no GIL) from work: bench/profile.py counts samples parked here as idle."""
    return stream.readline()


def _readline(stream: IO[bytes], timeout: float) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return b""
        ready, _, _ = select.select([stream], [], [], remaining)
        if ready:
            return stream.readline()


# --- the child --------------------------------------------------------------------------------------
def _read_exact(fd: int, size: int) -> bytes | None:
    """Read from the raw descriptor (no buffer: `select` on it then tells the truth about input)."""
    parts, missing = [], size
    while missing:
        data = os.read(fd, missing)
        if not data:
            return None  # end of input: the parent is done
        parts.append(data)
        missing -= len(data)
    return b"".join(parts)


def _wait_for_input(fd: int, maintenance: Any) -> None:
    """Block until a batch arrives, running retention steps while none is waiting and one is due."""
    while True:
        timeout = maintenance.seconds_until_due()
        ready, _, _ = select.select([fd], [], [], timeout)
        if ready:
            return
        while maintenance.step():  # each step is short; look for a batch between two
            if select.select([fd], [], [], 0)[0]:
                return


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the end of stdin is what stops this process
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "promptgate.settings")

    database = settings.DATABASES["default"]  # its NAME is the parent's (settings.py reads DB_NAME_ENV)
    # One thread, one connection, kept: no pool to hold idle connections in this process.
    database.get("OPTIONS", {}).pop("pool", None)
    database["CONN_MAX_AGE"] = None
    # Only the apps RequestLog needs: half the memory of the whole project (~50 MB against ~100).
    settings.INSTALLED_APPS = list(CHILD_APPS)

    django.setup()
    # Imported after django.setup(): this child process loads only CHILD_APPS, set just above.
    from django.db import close_old_connections, connection

    from audit.maintenance import Maintenance
    from gateways.common.logrows import write_request_logs

    connection.ensure_connection()  # connected before `ready`: the connection count does not move later

    source, sink = sys.stdin.fileno(), sys.stdout.buffer
    maintenance = Maintenance()
    sink.write(READY)
    sink.flush()
    while True:
        _wait_for_input(source, maintenance)
        head = _read_exact(source, 4)
        if head is None:
            return 0
        payload = _read_exact(source, int.from_bytes(head, "big"))
        if payload is None:
            return 0
        batch_id, rows = pickle.loads(payload)  # noqa: S301 (from our parent process, see the docstring)
        try:
            write_request_logs(rows, batch_id)
            status = OK
        except Exception:  # reported to the parent, which counts the batch; the child keeps going
            logger.exception("request-log process: a batch of %d rows failed", len(rows))
            status = FAILED
            close_old_connections()  # a broken connection is replaced on the next batch
        sink.write(status)
        sink.flush()


if __name__ == "__main__":
    raise SystemExit(main())
