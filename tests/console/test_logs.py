"""Request logs in the browser: the management API's filters as a search form (and in links), times to
the millisecond, project/token/endpoint as links, and a detail page with attempts, verdicts and request id."""

from __future__ import annotations

import datetime

import pytest

from audit.models import RequestLog


@pytest.fixture
def logs(transactional_db, make_project):
    project = make_project("Logs project", project_type="ai_gateway")
    other = make_project("Other project", project_type="api_gateway")
    at = datetime.datetime(2026, 12, 1, 10, 30, 15, 123456, tzinfo=datetime.UTC)
    failed = RequestLog.objects.create(
        time=at,
        project_uuid=project.uuid,
        gateway="ai",
        endpoint="chat.completions",
        method="POST",
        path=f"/api/{project.uuid}/v1/chat/completions",
        token_prefix="pg_test_abcd",
        status=502,
        latency_ms=812.5,
        provider="openai",
        model="gpt-4o-mini",
        attempts=[{"provider": "openai", "model": "gpt-4o-mini", "status": 502, "error": "upstream_error"}],
        guardrails={"verdicts": [{"rule": "no-secrets", "level": "global", "action": "warn", "count": 1}]},
        error_code="upstream_error",
        request_id="req-console-1",
    )
    RequestLog.objects.create(
        time=at + datetime.timedelta(seconds=1),
        project_uuid=project.uuid,
        gateway="ai",
        status=200,
        endpoint="chat.completions",
        token_prefix="pg_test_abcd",
        request_id="req-console-2",
    )
    RequestLog.objects.create(
        time=at,
        project_uuid=other.uuid,
        gateway="http",
        status=200,
        endpoint="orders",
        request_id="req-other",
    )
    return project, failed


def test_search_with_the_api_filters_and_open_a_call(console_page, logs, shoot):
    project, failed = logs
    page = console_page
    page.goto("/admin/audit/requestlog/")
    assert page.locator("#result_list tbody tr").count() == 3
    page.fill(".log-search input[name=project]", str(project.uuid))
    page.fill(".log-search input[name=status]", "5xx")
    page.click(".log-search button[type=submit]")
    page.wait_for_url("**status=5xx**")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    row = rows.first
    assert row.locator("td.field-time_ms, th.field-time_ms").inner_text() == "2026-12-01 10:30:15.123"
    assert row.locator("td.field-project_link a").inner_text() == "Logs project"
    assert row.locator("td.field-token_link a").inner_text() == "pg_test_abcd…"
    assert row.locator("td.field-endpoint_link a").inner_text() == "chat.completions"
    shoot(page, "logs-search")

    row.locator("th.field-time_ms a, td.field-time_ms a").first.click()
    page.wait_for_url(f"**/admin/audit/requestlog/{failed.pk}/change/**")
    body = page.locator("#content").inner_text()
    assert "req-console-1" in body and "upstream_error" in body and "no-secrets" in body
    assert "Attempts" in body and "Guardrail verdicts" in body
    shoot(page, "logs-detail")


def test_links_carry_the_filters_and_a_bad_filter_is_said(console_page, logs):
    project, _ = logs
    page = console_page
    page.goto(f"/admin/audit/requestlog/?project={project.uuid}&status=2xx")
    assert page.locator("#result_list tbody tr").count() == 1
    assert page.locator(".log-search input[name=status]").input_value() == "2xx"
    page.goto("/admin/audit/requestlog/?token=pg_test_abcd")
    assert page.locator("#result_list tbody tr").count() == 2
    page.goto("/admin/audit/requestlog/?status=teapot")
    assert "e=1" in page.url  # Django's changelist flags the invalid search
