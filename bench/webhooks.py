"""Webhook deliveries per second that one `webhook_worker` process sustains (`python -m bench.webhooks`).

Queues N events (one delivery each) to a receiver on 127.0.0.1 that answers 200 at once, starts one
worker, and times from its first delivery to its last: deliveries per second and the worker's CPU per
delivery (from /proc). SQLite by default (a fresh database under bench/var/webhooks/); `--pg` uses
PostgreSQL (database promptgate_bench_webhooks). Not part of `make bench`'s default run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import django
from django.db import transaction

REPO = Path(__file__).resolve().parent.parent
VAR = REPO / "bench" / "var" / "webhooks"
PG_URL = "postgres://postgres@127.0.0.1:5432/promptgate_bench_webhooks"


class _Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver would offer
    # Headers and body leave in two writes: with Nagle on, the body waits for the worker's delayed ACK
    # (~40 ms a delivery, measured: the worker then spent 70% of its time in recv).
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.webhooks", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--pg", action="store_true", help="PostgreSQL instead of SQLite")
    args = parser.parse_args(argv)

    VAR.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(DEBUG="true", PROMPTGATE_VAR_DIR=str(VAR), PROMPTGATE_SSRF_ALLOW="127.0.0.0/8")
    if args.pg:
        env["DATABASE_URL"] = PG_URL
        subprocess.run(
            ["createdb", "-h", "127.0.0.1", "-U", "postgres", "promptgate_bench_webhooks"], check=False
        )
    else:
        (VAR / "promptgate.sqlite3").unlink(missing_ok=True)
    os.environ.update(env)
    os.environ.pop("DATABASE_URL", None) if not args.pg else None
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=REPO, env=env, check=True)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "promptgate.settings")
    django.setup()
    # Imported here: the bench sets Django up at run time, before the project's modules load.
    from django_tasks_db.models import DBTaskResult

    from webhooks import outbox, services
    from webhooks.models import Delivery, DeliveryStatus, Event, Webhook

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"

    Event.objects.all().delete()
    Webhook.objects.all().delete()
    DBTaskResult.objects.all().delete()
    services.create_webhook(None, url=url, events=["webhook.test"])
    with transaction.atomic():
        for i in range(args.events):
            outbox.record("webhook.test", {"webhook": {"id": 0}, "message": f"bench {i}"})
    worker = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "webhook_worker",
            "--interval",
            "0.05",
            "--no-startup-delay",
            "-v",
            "0",
        ],
        cwd=REPO,
        env=env,
    )
    try:
        while not Delivery.objects.filter(status=DeliveryStatus.SUCCEEDED).exists():
            time.sleep(0.01)
        started, cpu0 = time.monotonic(), _cpu_seconds(worker.pid)
        first = Delivery.objects.filter(status=DeliveryStatus.SUCCEEDED).count()
        while (done := Delivery.objects.filter(status=DeliveryStatus.SUCCEEDED).count()) < args.events:
            time.sleep(0.2)
        elapsed, cpu = time.monotonic() - started, _cpu_seconds(worker.pid) - cpu0
    finally:
        worker.terminate()
        worker.wait(20)
        server.shutdown()
    delivered = done - first
    db = "PostgreSQL" if args.pg else "SQLite"
    print(
        f"{db}: {delivered} deliveries in {elapsed:.1f} s = {delivered / elapsed:.0f}/s by one worker; "
        f"worker CPU {cpu * 1000 / delivered:.2f} ms per delivery ({cpu / elapsed:.2f} cores)"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
