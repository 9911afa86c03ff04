"""The console's figures and overviews as a project member sees them: only the projects where their role
may read logs count, and another project's overview is refused (Django's test client; no browser)."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from audit import rollups
from projects.models import Role

pytestmark = pytest.mark.django_db


def _roll_up(project, requests: int) -> None:
    now = timezone.now().astimezone(datetime.UTC)
    rows = [
        {
            "time": now,
            "project_uuid": project.uuid,
            "gateway": "http",
            "endpoint": "orders",
            "status": 200,
            "latency_ms": 5.0,
            "cost": Decimal(0),
        }
        for _ in range(requests)
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        rollups.write_rollups(cursor, connection, rollups.hourly_deltas(rows))


def _member(make_user, project, role: str) -> Client:
    user = make_user(f"{role}-member", project, role)
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    client = Client()
    client.force_login(user)
    return client


def test_a_member_sees_only_their_projects_figures(make_project, make_user):
    mine, theirs = make_project("Mine"), make_project("Theirs")
    _roll_up(mine, 3)
    _roll_up(theirs, 7)
    client = _member(make_user, mine, Role.DEVELOPER)
    page = client.get("/admin/")
    assert page.status_code == 200
    assert page.context["totals"]["requests"] == 3
    assert [row["project"] for row in page.context["top_projects"]] == [str(mine.uuid)]
    assert b"Theirs" not in page.content


def test_another_projects_overview_is_refused(make_project, make_user):
    mine, theirs = make_project("Mine"), make_project("Theirs")
    client = _member(make_user, mine, Role.VIEWER)
    assert client.get(f"/admin/projects/project/{mine.uuid}/overview/").status_code == 200
    assert client.get(f"/admin/projects/project/{theirs.uuid}/overview/").status_code == 403
