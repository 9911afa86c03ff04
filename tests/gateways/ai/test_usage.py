"""Usage and cost aggregation: the management API's /usage/ (filters, grouping, roles) and the admin page."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from audit import rollups
from audit.models import DailyRollup, HourlyRollup, RequestLog
from gateways.common.logrows import write_request_logs
from projects.models import Role

URL = "/manage/api/v1/usage/"


@pytest.fixture
def traffic(make_project):
    ai = make_project("Usage AI", project_type="ai_gateway")
    other = make_project("Other AI", project_type="ai_gateway")
    today = timezone.now().replace(hour=12)
    yesterday = today - datetime.timedelta(days=1)

    def row(project, when, model, cost, status=200, token="pg_test_aaaa", endpoint="chat.completions"):
        return {
            "time": when,
            "project_uuid": project.uuid,
            "gateway": "ai",
            "endpoint": endpoint,
            "token_prefix": token,
            "status": status,
            "provider": "openai",
            "model": model,
            "tokens_in": 10,
            "tokens_out": 20,
            "cost": Decimal(cost),
            "latency_ms": 40.0,
        }

    # Through the request-log writer, which keeps the rollups that the usage report reads.
    write_request_logs(
        [
            row(ai, today, "gpt-4o", "0.5"),
            row(ai, today, "gpt-4o", "0.25"),
            row(ai, today, "gpt-4o-mini", "0.01", status=429),
            row(ai, yesterday, "gpt-4o", "1.0", token="pg_test_bbbb"),
            row(ai, today, "text-embedding-3-small", "0.001", endpoint="embeddings"),
            row(other, today, "gpt-4o", "9.0"),
            {"time": today, "project_uuid": ai.uuid, "gateway": "http", "status": 200},  # not AI traffic
        ]
    )
    return ai, other, today.date(), yesterday.date()


def test_usage_api_groups_and_filters(traffic, admin_user):
    ai, _, today, yesterday = traffic
    client = APIClient()
    client.force_login(admin_user)
    data = client.get(URL, {"project": str(ai.uuid), "group_by": "day,model"}).json()
    keys = ("day", "model", "requests", "errors", "tokens_in", "tokens_out", "cost")
    assert [{k: r[k] for k in keys} for r in data["results"]] == [
        {
            "day": today.isoformat(),
            "model": "gpt-4o",
            "requests": 2,
            "errors": 0,
            "tokens_in": 20,
            "tokens_out": 40,
            "cost": "0.75",
        },
        {
            "day": today.isoformat(),
            "model": "gpt-4o-mini",
            "requests": 1,
            "errors": 1,
            "tokens_in": 10,
            "tokens_out": 20,
            "cost": "0.01",
        },
        {
            "day": today.isoformat(),
            "model": "text-embedding-3-small",
            "requests": 1,
            "errors": 0,
            "tokens_in": 10,
            "tokens_out": 20,
            "cost": "0.001",
        },
        {
            "day": yesterday.isoformat(),
            "model": "gpt-4o",
            "requests": 1,
            "errors": 0,
            "tokens_in": 10,
            "tokens_out": 20,
            "cost": "1",
        },
    ]
    assert data["totals"]["cost"] == "1.761" and data["totals"]["requests"] == 5
    by_token = client.get(URL, {"project": str(ai.uuid), "group_by": "token"}).json()["results"]
    assert {r["token"]: r["cost"] for r in by_token} == {"pg_test_aaaa": "0.761", "pg_test_bbbb": "1"}
    only = client.get(
        URL, {"endpoint": "embeddings", "since": today.isoformat(), "group_by": "project,endpoint"}
    )
    assert only.json()["results"][0]["project"] == str(ai.uuid) and len(only.json()["results"]) == 1
    assert (
        client.get(URL, {"until": yesterday.isoformat(), "group_by": "day"}).json()["totals"]["cost"] == "1"
    )
    assert client.get(URL, {"group_by": "nonsense"}).status_code == 400
    assert client.get(URL, {"project": "not-a-uuid"}).status_code == 400
    assert client.get(URL, {"since": "yesterday"}).status_code == 400
    assert client.post(URL, {}, format="json").status_code == 405


def test_usage_reads_the_rollups_not_the_raw_rows(traffic, admin_user):
    ai, _, today, yesterday = traffic
    client = APIClient()
    client.force_login(admin_user)
    before = client.get(URL, {"project": str(ai.uuid), "group_by": "day"}).json()
    RequestLog.objects.all().delete()  # raw rows past their retention: the report does not move
    after = client.get(URL, {"project": str(ai.uuid), "group_by": "day"}).json()
    assert after == before and after["totals"]["requests"] == 5
    day = after["results"][0]
    assert day["day"] == today.isoformat() and day["latency_ms_avg"] == 40.0
    assert 30 <= day["latency_ms_p50"] <= 50 and 30 <= day["latency_ms_p99"] <= 50  # 40 ms's bucket
    hours = client.get(URL, {"project": str(ai.uuid), "group_by": "hour"}).json()["results"]
    assert [h["hour"][11:13] for h in hours] == ["12", "12"] and sum(h["requests"] for h in hours) == 5
    every = client.get(URL, {"project": str(ai.uuid), "group_by": "gateway", "gateway": "all"}).json()
    assert {r["gateway"]: r["requests"] for r in every["results"]} == {"ai": 5, "http": 1}
    assert client.get(URL, {"gateway": "smtp"}).status_code == 400
    assert client.get(URL, {"group_by": "day,hour"}).status_code == 400
    # Days that are over are derived into the daily rollup (the retention pass does it); usage then
    # reads them from there, and the later days from the hourly rollup.
    after_midnight = datetime.datetime.combine(today, datetime.time(2), datetime.UTC)
    for day in rollups.days_to_derive(after_midnight):
        rollups.derive_daily(day)
    assert rollups.derived_until() == today and DailyRollup.objects.filter(day=yesterday).exists()
    HourlyRollup.objects.filter(hour__lt=after_midnight).delete()  # yesterday now comes from the daily rows
    assert client.get(URL, {"project": str(ai.uuid), "group_by": "day"}).json() == before
    HourlyRollup.objects.all().delete()
    DailyRollup.objects.all().delete()
    assert client.get(URL, {"project": str(ai.uuid)}).json()["results"] == []


def test_usage_api_is_scoped_by_role(traffic, make_user):
    ai, other, *_ = traffic
    client = APIClient()
    client.force_login(make_user("dev", ai, Role.DEVELOPER))
    data = client.get(URL, {"group_by": "project"}).json()
    assert [r["project"] for r in data["results"]] == [str(ai.uuid)]
    client.force_login(make_user("viewer", other, Role.VIEWER))  # viewers do not read logs
    assert client.get(URL).json()["results"] == []
    assert APIClient().get(URL).status_code == 401


def test_admin_usage_page_with_chart(traffic, admin_user, client):
    ai, *_ = traffic
    client.force_login(admin_user)
    page = client.get("/admin/ai/usagereport/", {"project": str(ai.uuid)})
    assert page.status_code == 200
    html = page.content.decode()
    assert '<svg id="usage-chart"' in html and html.count("<rect ") == 2  # two days of traffic
    assert "$1.761" in html and "gpt-4o-mini" in html and "Other AI" not in html
    assert "<script" not in html.split('id="content-main"')[1]  # a chart without scripts or CDNs
    index = client.get("/admin/").content.decode()
    assert "/admin/ai/usagereport/" in index and "/admin/ai/priceoverride/" in index
