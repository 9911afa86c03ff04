"""The console's home dashboard in a real browser, with traffic sent through the real gateway first: its
figures come from the request-log rollups, its charts have axes and hover values, and every figure links
to the request logs behind it. Nothing is loaded from outside the gateway."""

from __future__ import annotations

import time

import httpx
import pytest

from audit.models import HourlyRollup


@pytest.fixture
def traffic(transactional_db, console_gateway, make_project, make_token):
    """An API-gateway project with 3 answered introspection calls and 2 refused ones (no proxy scope), rolled up."""
    project = make_project("Traffic project", project_type="api_gateway")
    _, token = make_token(project, scopes=["admin"])
    console_gateway.sync_config()
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(3):
        assert httpx.get(console_gateway.url(f"/api/{project.uuid}/info"), headers=headers).status_code == 200
    for _ in range(2):
        answer = httpx.get(console_gateway.url(f"/api/{project.uuid}/proxy/missing/x"), headers=headers)
        assert answer.status_code == 403  # no proxy scope: refused, and logged
    deadline = time.monotonic() + 15
    while sum(HourlyRollup.objects.values_list("requests", flat=True)) < 5:  # the writer flushes in batches
        assert time.monotonic() < deadline, "the request log rollups never reached 5 requests"
        time.sleep(0.1)
    return project


def test_the_dashboard_shows_traffic_errors_latency_and_spend(
    console_page, traffic, offline, page_errors, shoot
):
    page = console_page
    page.goto("/admin/")
    assert page.title().endswith("PromptGate")
    assert page.locator("[data-kpi=requests]").inner_text() == "5"
    assert page.locator("[data-kpi=error_rate]").inner_text() == "40.0%"
    charts = page.locator("svg.chart")
    assert charts.count() == 4
    names = [charts.nth(i).get_attribute("data-chart") for i in range(4)]
    assert names == ["Requests", "Error rate (4xx and 5xx)", "Latency", "Spend"]
    # Axes carry units, and the hour that had the traffic says so on hover.
    assert "ms" in charts.nth(2).locator("text.tick").nth(1).text_content()
    hovers = charts.nth(0).locator("title").all_text_contents()
    assert any("requests: 5 · 5 requests" in h for h in hovers), hovers
    shoot(page, "dashboard")
    assert offline == [] and page_errors == []

    # The top project links to its overview; its request count to the project's logs.
    row = page.locator(".panel", has_text="Top projects").locator("tbody tr").first
    assert row.locator("a").first.inner_text() == "Traffic project"
    href = row.locator("td.num a").get_attribute("href")
    assert f"project={traffic.uuid}" in href and "since=" in href


def test_every_window_renders(console_page, console_user, shoot):
    page = console_page
    for window in ("1h", "24h", "30d"):
        page.goto(f"/admin/?window={window}")
        assert page.locator(".windows a.active").get_attribute("href") == f"?window={window}"
        assert page.locator("svg.chart").count() == 4
    shoot(page, "dashboard-30d")


def test_navigation_is_by_task_in_the_products_words(console_page, shoot):
    page = console_page
    page.goto("/admin/projects/project/")
    sidebar = page.locator("#nav-sidebar").inner_text()
    for section in (
        "PROJECTS",
        "PROVIDERS AND CREDENTIALS",
        "GUARDRAILS",
        "WEBHOOKS",
        "LOGS AND USAGE",
        "AUDIT",
        "ACCESS",
    ):
        assert section in sidebar.upper()
    for label in ("Model aliases", "OAuth connections", "MCP servers", "API endpoints", "API clients"):
        assert label in sidebar
    for machine_label in (
        "Model aliass",
        "O auth",
        "Mcp servers",
        "Access tokens",
        "Refresh tokens",
        "Grants",
    ):
        assert machine_label not in sidebar
    assert "Django" not in page.locator("#header").inner_text()
    shoot(page, "projects")


def test_the_error_figures_open_the_failed_calls(console_page, traffic, shoot):
    page = console_page
    page.goto("/admin/")
    page.locator(".kpi", has_text="Error rate").click()
    page.wait_for_url("**/admin/audit/requestlog/**")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 2
    assert set(rows.locator("td.field-status").all_inner_texts()) == {"403"}
    shoot(page, "errors")


def test_a_budget_near_its_limit_is_shown(console_page, transactional_db, make_project):
    """Spend rolled up by the request-log writer's own code counts against the project's daily budget."""
    import datetime
    from decimal import Decimal

    from django.db import connection, transaction
    from django.utils import timezone

    from audit import rollups
    from gateways.ai.models import UsageLimit

    project = make_project("Budgeted project", project_type="ai_gateway")
    UsageLimit.objects.create(project=project, daily_budget=Decimal("2.00"))
    row = {
        "time": timezone.now().astimezone(datetime.UTC),
        "project_uuid": project.uuid,
        "gateway": "ai",
        "endpoint": "chat.completions",
        "token_prefix": "",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "status": 200,
        "latency_ms": 120.0,
        "bytes_in": 10,
        "bytes_out": 20,
        "tokens_in": 100,
        "tokens_out": 50,
        "cost": Decimal("1.70"),
    }
    with transaction.atomic(), connection.cursor() as cursor:
        rollups.write_rollups(cursor, connection, rollups.hourly_deltas([row]))
    page = console_page
    page.goto("/admin/")
    budget = page.locator(".panel", has_text="Budgets nearest their limit").locator("tbody tr").first
    text = budget.inner_text()
    assert "Budgeted project" in text and "$1.70 of $2.00" in text and "85%" in text
    assert "hot" in budget.locator(".meter").get_attribute("class")
