"""gunicorn settings for `make run` and the image: uvicorn workers serving promptgate.asgi."""

import os
import signal
import subprocess
import sys
from pathlib import Path

worker_class = "uvicorn_worker.UvicornWorker"
graceful_timeout = 30
# Streams (SSE, large downloads) outlive any request timeout; uvicorn handles keep-alive itself.
timeout = 0
accesslog = None
# Should an operator turn the access log on (--access-logfile): method, path, status, size, time; never
# the query string, referer or a header, which can carry a credential (promptgate/access_log.py also
# filters uvicorn's own access lines, which the uvicorn workers route to gunicorn's handlers).
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'


def on_starting(server: object) -> None:
    # Rate limits, budgets and token caps kept per process would silently multiply by the worker count.
    workers = getattr(getattr(server, "cfg", None), "workers", 1)
    if workers > 1 and not os.environ.get("REDIS_URL"):
        raise SystemExit(
            f"Refusing to start {workers} workers without a shared cache: set REDIS_URL "
            "(limits, budgets and token caps must be shared), or run one worker."
        )


# Webhook workers (`manage.py webhook_worker`) run beside the server, so `make run` serves everything.
_webhook_workers: list[subprocess.Popen[bytes]] = []


def when_ready(server: object) -> None:
    from promptgate import settings  # the one reader of the environment (plain module: no Django set-up)

    count = settings.PROMPTGATE_WEBHOOK_WORKERS
    base = Path(__file__).resolve().parent.parent
    for _ in range(max(0, count)):
        command = [sys.executable, str(base / "manage.py"), "webhook_worker", "-v", "0"]
        _webhook_workers.append(subprocess.Popen(command, cwd=base))  # noqa: S603 (our own command)


def on_exit(server: object) -> None:
    for proc in _webhook_workers:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in _webhook_workers:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
