"""Export of a project's raw rows: `manage.py export_logs` and the streamed management API download,
read a chunk at a time (bounded memory), under WSGI and under a real ASGI server."""

from __future__ import annotations

import base64
import csv
import datetime
import io
import json

import httpx
import pytest
from django.conf import global_settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from audit import export
from gateways.common.logrows import write_request_logs
from projects.models import Role
from tests.servers import running_gateway

URL = "/manage/api/v1/request-logs/export/"
T0 = datetime.datetime(2026, 11, 25, 23, 0, tzinfo=datetime.UTC)


def traffic(project, other, n: int = 23) -> None:
    rows = [
        {
            "time": T0 + datetime.timedelta(minutes=10 * i),  # from 23:00 on the 25th, every 10 minutes
            "project_uuid": project.uuid,
            "gateway": "ai",
            "path": f"/p/{i}",
            "status": 200 if i % 5 else 502,
            "tokens_in": i,
            "cost": "0.00000123" if i % 2 else None,
            "guardrails": {"rules": ["pii"]} if i == 3 else {},
            "error_code": "=cmd()" if i == 4 else "",
            "request_id": f"r{i}",
        }
        for i in range(n)
    ]
    rows.append(
        {"time": T0, "project_uuid": other.uuid, "gateway": "http", "status": 200, "request_id": "other"}
    )
    write_request_logs(rows)


@pytest.fixture
def two(make_project):
    project, other = make_project("Export me"), make_project("Not me")
    traffic(project, other)
    return project, other


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("export_logs", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_export_logs_writes_jsonl_and_csv_of_the_range_only(two, tmp_path):
    project, _ = two
    lines = run("--project", str(project.uuid), "--since", "2026-11-26", "--until", "2026-11-26").splitlines()
    rows = [json.loads(line) for line in lines]
    # The 26th alone (a day for --until includes it): from row 6 (midnight) on.
    assert [r["request_id"] for r in rows] == [f"r{i}" for i in range(6, 23)]
    assert rows[0]["time"] == "2026-11-26T00:00:00+00:00" and rows[0]["project_uuid"] == str(project.uuid)
    assert next(r for r in rows if r["request_id"] == "r7")["cost"] == "0.00000123"
    target = tmp_path / "out.csv"
    since, until = T0.isoformat(), (T0 + datetime.timedelta(minutes=30)).isoformat()
    run(
        "--project",
        str(project.uuid),
        "--since",
        since,
        "--until",
        until,
        "--format",
        "csv",
        "-o",
        str(target),
    )
    with target.open(newline="") as file:
        table = list(csv.DictReader(file))
    assert [r["request_id"] for r in table] == ["r0", "r1", "r2"]  # --until as a time is excluded
    assert table[0]["status"] == "502" and table[0]["cost"] == "" and table[1]["tokens_in"] == "1"
    full = list(
        csv.DictReader(
            io.StringIO(
                run(
                    "--project",
                    str(project.uuid),
                    "--since",
                    "2026-11-25",
                    "--until",
                    "2026-11-28",
                    "--format",
                    "csv",
                )
            )
        )
    )
    assert len(full) == 23 and json.loads(full[3]["guardrails"]) == {"rules": ["pii"]}
    assert full[4]["error_code"] == "'=cmd()"  # a spreadsheet does not run it
    for bad in (
        ["--project", "nope", "--since", "2026-11-25", "--until", "2026-11-26"],
        ["--project", str(project.uuid), "--since", "yesterday", "--until", "2026-11-26"],
        ["--project", str(project.uuid), "--since", "2026-11-27", "--until", "2026-11-26"],
    ):
        with pytest.raises(CommandError):
            run(*bad)


@pytest.mark.django_db
def test_the_export_reads_one_chunk_at_a_time(two, monkeypatch):
    project, _ = two
    monkeypatch.setattr(export, "CHUNK_ROWS", 5)
    since, until = T0, T0 + datetime.timedelta(days=3)
    chunks = export.stream(str(project.uuid), since, until, "jsonl")
    with CaptureQueriesContext(connection) as queries:
        first = next(chunks)
    assert len(queries) == 1 and first.count("\n") == 5  # one chunk read, one chunk handed on
    with CaptureQueriesContext(connection) as queries:
        rest = list(chunks)
    assert [text.count("\n") for text in rest] == [5, 5, 5, 3]
    assert all("OFFSET" not in q["sql"].upper() for q in queries) and len(queries) == 4
    ids = [json.loads(line)["request_id"] for text in [first, *rest] for line in text.splitlines()]
    assert ids == [f"r{i}" for i in range(23)]


@pytest.mark.django_db
def test_the_api_streams_the_export_to_those_who_read_the_projects_logs(
    two, root_client, client_for, make_user
):
    project, other = two
    params = {"project": str(project.uuid), "since": "2026-11-25", "until": "2026-11-27", "format": "csv"}
    response = root_client.get(URL, params)
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="request-logs-')
    body = b"".join(response.streaming_content).decode()
    assert len(list(csv.DictReader(io.StringIO(body)))) == 23
    assert client_for(make_user("dev", project, Role.DEVELOPER)).get(URL, params).status_code == 200
    assert client_for(make_user("viewer", project, Role.VIEWER)).get(URL, params).status_code == 404
    assert client_for(make_user("stranger", other, Role.OWNER)).get(URL, params).status_code == 404
    bad = root_client.get(URL, {**params, "format": "xml"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "validation_error"


@pytest.fixture(scope="module")
def asgi_gateway(django_db_setup, django_db_blocker):
    with running_gateway() as proc:
        yield proc


@pytest.mark.django_db(transaction=True)
def test_under_asgi_the_export_is_streamed_by_an_async_iterator(asgi_gateway, make_project, make_user):
    project, other = make_project("Streamed"), make_project("Other")
    traffic(project, other, n=2500)  # three chunks
    make_user("exporter", project, Role.DEVELOPER)
    out = io.StringIO()
    # Hashed as the server process checks it (the tests' fast hasher is not in its settings).
    with override_settings(PASSWORD_HASHERS=global_settings.PASSWORD_HASHERS):
        call_command("create_api_client", "exporter-bot", "--user", "exporter", stdout=out)
    client = json.loads(out.getvalue())
    basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
    answer = httpx.post(
        asgi_gateway.url("/o/token/"),
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    params = {"project": str(project.uuid), "since": "2026-11-25", "until": "2026-12-31"}
    with httpx.stream(
        "GET", asgi_gateway.url(URL), params=params, headers={"Authorization": f"Bearer {token}"}, timeout=60
    ) as response:
        assert response.status_code == 200
        assert (
            response.headers.get("transfer-encoding") == "chunked"
            and "content-length" not in response.headers
        )
        lines = [line for line in response.iter_lines() if line]
    assert len(lines) == 2500 and json.loads(lines[-1])["request_id"] == "r2499"
    assert "must consume" not in asgi_gateway.output()  # Django did not read a sync iterator whole
