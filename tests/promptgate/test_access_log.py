"""Issue 17, point 8: the served configurations never write a query string or header value to a log."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from tests.servers import BASE_DIR, free_port, gateway_env

SECRET = "pg_test_QueryStringSecret0123456789abcdefXYZ"
HEADER_SECRET = "Referer-Secret-9f8e7d6c5b4a"


def serve(command: list[str], port: int) -> tuple[subprocess.Popen[bytes], Path]:
    log = Path(tempfile.mkstemp(prefix="access-", suffix=".log")[1])
    with log.open("wb") as out:  # the child keeps its own descriptor
        proc = subprocess.Popen(
            command, cwd=BASE_DIR, env=gateway_env(), stdout=out, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc, log
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"server did not start:\n{log.read_text()}")


def probe(port: int) -> None:
    """Credentials where clients put them by mistake: the query string, Referer, a custom header."""
    headers = {"Referer": f"https://app.example/?token={HEADER_SECRET}", "X-Api-Key": HEADER_SECRET}
    for path in (
        f"/api/00000000-0000-0000-0000-000000000000/v1/models?api_key={SECRET}",
        f"/healthz?token={SECRET}",
        f"/manage/api/v1/projects/?access_token={SECRET}",
    ):
        httpx.get(f"http://127.0.0.1:{port}{path}", headers=headers, timeout=10)


def stop_and_read(proc: subprocess.Popen[bytes], log: Path) -> str:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    text = log.read_text(errors="replace")
    log.unlink()
    return text


@pytest.mark.parametrize(
    "server",
    ["uvicorn", "gunicorn"],
)
def test_access_logs_name_the_path_never_a_credential(django_db_setup, server):
    port = free_port()
    if server == "uvicorn":  # `python -m uvicorn promptgate.asgi:application`, access log on (its default)
        command = [sys.executable, "-m", "uvicorn", "promptgate.asgi:application", "--port", str(port)]
    else:  # `make run` and the image, with the operator turning gunicorn's access log on
        command = [
            str(Path(sys.executable).with_name("gunicorn")),
            "promptgate.asgi:application",
            "-c",
            "promptgate/gunicorn_conf.py",
            "--bind",
            f"127.0.0.1:{port}",
            "--access-logfile",
            "-",
        ]
    proc, log = serve(command, port)
    probe(port)
    output = stop_and_read(proc, log)
    assert "/v1/models" in output and "/healthz" in output, output[-2000:]  # the access log did run
    assert SECRET not in output and HEADER_SECRET not in output, output[-2000:]
