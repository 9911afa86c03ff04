"""Management API of guardrails: global rules (superusers), project and endpoint rules, the effective view,
locks and overrides, validation at save (RE2's message for a bad pattern), roles and the audit trail."""

from __future__ import annotations

import pytest

from audit.models import AuditLog
from gateways.guardrails.models import GuardrailRule
from gateways.http.models import ApiEndpoint
from projects.models import Role
from tests.projects.api.conftest import BASE, projects_url

pytestmark = pytest.mark.django_db
GLOBAL = f"{BASE}/guardrails/"


def rules_url(project, tail: str = "") -> str:
    return projects_url(project, f"guardrails/{tail}")


@pytest.fixture
def endpoint(project):
    return ApiEndpoint.objects.create(project=project, slug="weather", upstream_url="https://93.184.216.34/")


def test_global_rules_are_for_superusers(root_client, client_for, make_user, project):
    response = root_client.post(
        GLOBAL, {"name": "pii", "kind": "pii", "action": "redact", "locked": False}, format="json"
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["level"] == "global" and created["config"]["entities"][0] == "email"
    owner = client_for(make_user("owner", project, Role.OWNER))
    assert owner.get(GLOBAL).status_code == 403
    assert owner.post(GLOBAL, {"name": "x", "kind": "pii"}, format="json").status_code == 403
    trail = AuditLog.objects.filter(object_type="guardrails.guardrailrule", action="create")
    assert trail.count() == 1 and trail.get().actor_label == "root"


def test_invalid_regex_is_refused_with_re2_message(root_client):
    response = root_client.post(
        GLOBAL, {"name": "bad", "kind": "regex", "config": {"patterns": ["(a"]}}, format="json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error" and "missing )" in error["fields"]["config"][0]
    response = root_client.post(
        GLOBAL,
        {"name": "size", "kind": "max_size", "action": "redact", "config": {"max_chars": 5}},
        format="json",
    )
    assert response.status_code == 400 and "action" in response.json()["error"]["fields"]
    assert not GuardrailRule.objects.exists()


def test_project_and_endpoint_levels_with_effective_view(
    root_client, client_for, make_user, project, endpoint
):
    root_client.post(GLOBAL, {"name": "pii", "kind": "pii", "action": "block"}, format="json")
    root_client.post(
        GLOBAL, {"name": "keys", "kind": "secrets", "action": "block", "locked": True}, format="json"
    )
    admin = client_for(make_user("boss", project, Role.ADMIN))
    # Override the global pii rule (kind and config inherited), add a project keyword rule.
    response = admin.post(rules_url(project), {"name": "pii", "action": "redact"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["kind"] == "pii" and response.json()["level"] == "project"
    response = admin.post(
        rules_url(project),
        {"name": "words", "kind": "keywords", "config": {"words": ["falcon"]}, "stage": "input"},
        format="json",
    )
    assert response.status_code == 201, response.content
    # Endpoint level turns the keyword rule off for `weather`.
    response = admin.post(
        rules_url(project), {"name": "words", "endpoint": "weather", "enabled": False}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["level"] == "endpoint"
    # The locked global rule cannot be overridden.
    response = admin.post(rules_url(project), {"name": "keys", "action": "warn"}, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "guardrail_locked"
    # Unknown endpoint, wrong kind.
    response = admin.post(rules_url(project), {"name": "x", "kind": "pii", "endpoint": "nope"}, format="json")
    assert response.status_code == 400 and "endpoint" in response.json()["error"]["fields"]
    response = admin.post(
        rules_url(project), {"name": "pii", "kind": "secrets", "endpoint": "weather"}, format="json"
    )
    assert response.status_code == 400 and "kind" in response.json()["error"]["fields"]

    viewer = client_for(make_user("eve", project, Role.VIEWER))
    project_view = viewer.get(rules_url(project, "effective/")).json()["results"]
    assert [(r["name"], r["level"], r["action"], r["enabled"]) for r in project_view] == [
        ("pii", "project", "redact", True),
        ("keys", "global", "block", True),
        ("words", "project", "block", True),
    ]
    endpoint_view = viewer.get(rules_url(project, "effective/?endpoint=weather")).json()["results"]
    words = next(r for r in endpoint_view if r["name"] == "words")
    assert (words["level"], words["enabled"], words["overrides"]) == ("endpoint", False, ["project"])
    assert viewer.post(rules_url(project), {"name": "y", "kind": "pii"}, format="json").status_code == 403
    assert len(viewer.get(rules_url(project)).json()["results"]) == 3

    rule_id = GuardrailRule.objects.get(project=project, name="words", endpoint="").pk
    response = admin.patch(rules_url(project, f"{rule_id}/"), {"action": "warn"}, format="json")
    assert response.status_code == 200 and response.json()["action"] == "warn"
    assert admin.delete(rules_url(project, f"{rule_id}/")).status_code == 204
    actions = AuditLog.objects.filter(object_type="guardrails.guardrailrule", actor_label="boss")
    assert sorted(actions.values_list("action", flat=True)) == [
        "create",
        "create",
        "create",
        "delete",
        "update",
    ]
    assert set(actions.values_list("project_uuid", flat=True)) == {project.uuid}


def test_names_unique_per_level(root_client, project):
    url = rules_url(project)
    assert root_client.post(url, {"name": "a", "kind": "pii"}, format="json").status_code == 201
    response = root_client.post(url, {"name": "a", "kind": "pii"}, format="json")
    assert response.status_code == 400 and "name" in response.json()["error"]["fields"]
    response = root_client.post(url, {"name": "bad name", "kind": "pii"}, format="json")
    assert response.status_code == 400 and "name" in response.json()["error"]["fields"]
