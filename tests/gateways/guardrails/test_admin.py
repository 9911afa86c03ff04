"""Admin console for guardrails: add with validation (RE2's message), global rules for superusers only,
the effective view, and hits per rule per day from the request logs (counts, never matched text)."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditLog, RequestLog
from gateways.guardrails.models import GuardrailRule
from projects.models import Role
from tests.gateways.guardrails.conftest import add_rule

pytestmark = pytest.mark.django_db
ADD_URL = reverse("admin:guardrails_guardrailrule_add")


def logged_in(user) -> Client:
    if not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    client = Client()
    client.force_login(user)
    return client


def form(**overrides) -> dict:
    data = {
        "project": "",
        "endpoint": "",
        "name": "pii",
        "kind": "pii",
        "stage": "both",
        "action": "redact",
        "config": "{}",
        "enabled": "on",
        "description": "",
    }
    data.update(overrides)
    return data


def test_superuser_adds_a_global_rule_and_bad_patterns_are_refused(admin_user):
    client = logged_in(admin_user)
    response = client.post(ADD_URL, form(name="tickets", kind="regex", config='{"patterns": ["(a"]}'))
    assert response.status_code == 200 and "missing )" in response.content.decode()
    response = client.post(ADD_URL, form())
    assert response.status_code == 302, response.content.decode()[:2000]
    rule = GuardrailRule.objects.get()
    assert rule.level == "global" and rule.config["entities"]
    assert AuditLog.objects.filter(object_type="guardrails.guardrailrule", action="create").exists()


def test_project_admin_cannot_touch_global_rules(make_user, project):
    glob = add_rule(None, name="pii", kind="pii", action="block", locked=True)
    client = logged_in(make_user("boss", project, Role.ADMIN))
    change = reverse("admin:guardrails_guardrailrule_change", args=[glob.pk])
    assert client.get(change).status_code == 200  # visible, read-only
    assert client.post(change, form(action="warn")).status_code == 403
    response = client.post(ADD_URL, form(project=str(project.pk), action="warn"))
    assert response.status_code == 200 and "locked" in response.content.decode()
    response = client.post(ADD_URL, form(project="", name="other"))
    assert response.status_code == 200 and not GuardrailRule.objects.filter(name="other").exists()


def test_effective_view(admin_user, project):
    add_rule(None, name="pii", kind="pii", action="block")
    add_rule(project, name="pii", kind="pii", action="redact")
    client = logged_in(admin_user)
    page = client.get(reverse("admin:guardrails_effective"), {"project": project.pk}).content.decode()
    assert "<td>pii</td><td>project</td>" in page and "<td>global</td>" in page.split("effective-rules")[1]


def test_hits_per_rule_per_day(admin_user, make_user, project):
    now = timezone.now()
    verdict = {
        "blocked": False,
        "hits": [
            {
                "rule": "pii",
                "level": "global",
                "kind": "pii",
                "action": "redact",
                "stage": "input",
                "count": 3,
            }
        ],
    }
    RequestLog.objects.bulk_create(
        [
            RequestLog(time=now, project_uuid=project.uuid, gateway="ai", status=200, guardrails=verdict),
            RequestLog(time=now, project_uuid=project.uuid, gateway="ai", status=200, guardrails=verdict),
            RequestLog(time=now, project_uuid=project.uuid, gateway="ai", status=200),
            RequestLog(time=now, project_uuid=uuid.uuid4(), gateway="ai", status=200, guardrails=verdict),
        ]
    )
    page = logged_in(admin_user).get(reverse("admin:guardrails_hits")).content.decode()
    assert (
        f"<td>{project.uuid}</td><td>pii</td><td>global</td>\n        <td>input</td><td>redact</td><td>2</td><td>6</td>"
        in page
    )
    developer = logged_in(make_user("dev", project, Role.DEVELOPER))
    page = developer.get(reverse("admin:guardrails_hits")).content.decode()
    assert page.count("<td>pii</td>") == 1  # the other project's row is not theirs
    viewer = logged_in(make_user("eve", project, Role.VIEWER))
    assert viewer.get(reverse("admin:guardrails_hits")).status_code == 403
