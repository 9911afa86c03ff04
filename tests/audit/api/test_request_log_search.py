"""Management API, raw-log search: every filter, keyset pages (forward and back, ties included, no
OFFSET), and the indexes that serve a project's search."""

from __future__ import annotations

import datetime
from urllib.parse import parse_qs, urlparse

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.api import keyset
from audit.api.filters import RequestLogFilter
from audit.api.keyset import encode_cursor
from audit.models import RequestLog
from gateways.common.logrows import write_request_logs

pytestmark = pytest.mark.django_db

URL = "/manage/api/v1/request-logs/"
T0 = datetime.datetime(2026, 11, 20, 12, 0, tzinfo=datetime.UTC)


@pytest.fixture
def calls(make_project):
    project, other = make_project("Search"), make_project("Other")
    rows = []
    for i in range(40):
        rows.append(
            {
                "time": T0 + datetime.timedelta(seconds=i // 4),  # four rows per timestamp: ties
                "project_uuid": project.uuid,
                "gateway": "ai" if i % 2 else "http",
                "endpoint": "chat.completions" if i % 2 else "orders",
                "token_prefix": "pg_test_aaaa" if i < 20 else "pg_test_bbbb",
                "status": (200, 404, 502, 429)[i % 4],
                "error_code": {2: "upstream_error", 3: "rate_limited"}.get(i % 4, ""),
                "model": "gpt-4o" if i % 2 else "",
                "latency_ms": float(i * 10),
                "request_id": f"r{i}",
            }
        )
    rows.append({"time": T0, "project_uuid": other.uuid, "gateway": "http", "status": 200, "request_id": "x"})
    write_request_logs(rows)
    return project


def ids(client, **params) -> list[str]:
    response = client.get(URL, params)
    assert response.status_code == 200, response.content
    return [r["request_id"] for r in response.json()["results"]]


def test_each_filter_narrows_the_search(root_client, calls):
    p = str(calls.uuid)
    assert len(ids(root_client, project=p, page_size=500)) == 40
    assert set(ids(root_client, project=p, endpoint="orders", page_size=500)) == {
        f"r{i}" for i in range(0, 40, 2)
    }
    assert len(ids(root_client, project=p, token="pg_test_bbbb", page_size=500)) == 20
    assert set(ids(root_client, project=p, status="5xx", page_size=500)) == {f"r{i}" for i in range(2, 40, 4)}
    assert set(ids(root_client, project=p, status=404, page_size=500)) == {f"r{i}" for i in range(1, 40, 4)}
    assert set(ids(root_client, project=p, error_code="rate_limited")) == {f"r{i}" for i in range(3, 40, 4)}
    assert len(ids(root_client, project=p, model="gpt-4o", page_size=500)) == 20
    assert ids(root_client, project=p, latency_above=365) == ["r39", "r38", "r37"]
    since, until = (
        (T0 + datetime.timedelta(seconds=2)).isoformat(),
        (T0 + datetime.timedelta(seconds=3)).isoformat(),
    )
    assert ids(root_client, project=p, since=since, until=until) == [f"r{i}" for i in range(15, 7, -1)]
    combined = ids(root_client, project=p, endpoint="chat.completions", status="4xx", token="pg_test_aaaa")
    assert set(combined) == {f"r{i}" for i in range(1, 20, 2) if (200, 404, 502, 429)[i % 4] in (404, 429)}
    for bad in ({"status": "teapot"}, {"status": "6xx"}, {"latency_above": "slow"}, {"since": "then"}):
        response = root_client.get(URL, bad)
        assert response.status_code == 400 and "error" in response.json(), bad


def test_keyset_pages_walk_every_row_once_forward_and_back_through_ties(root_client, calls):
    expected = [
        r.request_id for r in RequestLog.objects.filter(project_uuid=calls.uuid).order_by("-time", "-id")
    ]
    pages, url = [], f"{URL}?project={calls.uuid}&page_size=7"
    while url:
        with CaptureQueriesContext(connection) as queries:
            body = root_client.get(url).json()
        assert not any("OFFSET" in q["sql"].upper() for q in queries)  # a range per page, never skipped rows
        pages.append([r["request_id"] for r in body["results"]])
        url = body["next"]
    assert [rid for page in pages for rid in page] == expected
    assert [len(p) for p in pages] == [7, 7, 7, 7, 7, 5]
    # Back from the last page to the first, by the previous links.
    last = root_client.get(URL, {"project": str(calls.uuid), "page_size": 7}).json()
    while last["next"]:
        last = root_client.get(last["next"]).json()
    back, body = [], last
    while body["previous"]:
        body = root_client.get(body["previous"]).json()
        back.insert(0, [r["request_id"] for r in body["results"]])
    assert back == pages[:-1]
    assert body["previous"] is None  # the first page again
    params = parse_qs(urlparse(last["previous"]).query)
    assert params["project"] == [str(calls.uuid)] and params["page_size"] == ["7"]  # filters kept


def test_forged_cursors_are_refused(root_client, calls):
    for cursor in (
        "garbage",
        encode_cursor(T0, 1, "sideways"),
        "eyJ0Ijoibm90IGEgdGltZSIsImkiOjEsImQiOiJuZXh0In0",
    ):
        response = root_client.get(URL, {"cursor": cursor})
        assert response.status_code == 404 and "error" in response.json()


def test_a_projects_search_walks_an_index_newest_first(calls):
    query = RequestLogFilter(
        {"project": str(calls.uuid), "endpoint": "orders"}, queryset=RequestLog.objects.all()
    ).qs.order_by("-time", "-id")[:51]
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
            plan = " ".join(str(row[-1]) for row in cursor.fetchall())
            assert "audit_reqlog_endpoint" in plan and "SCAN audit_requestlog " not in plan + " "
        else:
            cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table: ask which index it would use
            cursor.execute(f"EXPLAIN {sql}", params)
            plan = " ".join(row[0] for row in cursor.fetchall())
            assert "endpoint" in plan and "Index" in plan


@pytest.mark.parametrize("windowed", [True, False], ids=["windows", "whole-range"])
def test_pages_back_in_time_come_from_windows_of_the_newest_days_first(
    root_client, make_project, monkeypatch, windowed
):
    """On PostgreSQL's partitions (forced here on either database) a page is looked for in 1, 8 and 64
    days below its start before the whole range: the same pages, each query bounded in time while a
    window holds a page."""
    monkeypatch.setattr(keyset, "windowed", lambda queryset: windowed)
    project = make_project("Windows")
    now = timezone.now()
    ages = [0.1, 0.2, 0.3, 2, 3, 5, 20, 30, 50, 100, 300, 301]  # days: each window widens at least once
    write_request_logs(
        [
            {"time": now - datetime.timedelta(days=age), "project_uuid": project.uuid, "gateway": "http"}
            | {"status": 200, "request_id": f"d{age}"}
            for age in ages
        ]
    )
    pages, url = [], f"{URL}?project={project.uuid}&page_size=2"
    while url:
        with CaptureQueriesContext(connection) as queries:
            body = root_client.get(url).json()
        searches = [q["sql"] for q in queries if "audit_requestlog" in q["sql"] and "LIMIT" in q["sql"]]
        bounded = ['."time" >= ' in sql for sql in searches]
        pages.append(([r["request_id"] for r in body["results"]], bounded))
        url = body["next"]
    assert [rid for page, _ in pages for rid in page] == [f"d{age}" for age in ages]
    if windowed:
        assert pages[0][1] == [True]  # the newest day holds the first page: one bounded query
        assert pages[-1][1] == [True, True, True, False]  # 300 days back: windows, then the whole range
    else:
        assert all(bounded == [False] for _, bounded in pages)
