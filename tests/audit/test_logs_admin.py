"""Audit log, request log and token admins: read-only where they must be, filtered, scoped by role."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditLog, RequestLog
from projects.models import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def request_logs(project, make_project):
    other = make_project("Other project")
    now = timezone.now()
    RequestLog.objects.create(
        time=now, project_uuid=project.uuid, gateway="ai", status=200, path="/a", model="gpt"
    )
    RequestLog.objects.create(time=now, project_uuid=project.uuid, gateway="http", status=502, path="/b")
    RequestLog.objects.create(time=now, project_uuid=other.uuid, gateway="mcp", status=200, path="/c")
    return other


def test_audit_admin_is_read_only(root_client, project):
    row = AuditLog.objects.filter(project_uuid=project.uuid).first()
    assert root_client.get(reverse("admin:audit_auditlog_add")).status_code == 403
    assert root_client.post(reverse("admin:audit_auditlog_add"), {"action": "x"}).status_code == 403
    change = reverse("admin:audit_auditlog_change", args=[row.pk])
    page = root_client.get(change)
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert root_client.post(change, {"action": "tampered"}).status_code == 403
    delete = reverse("admin:audit_auditlog_delete", args=[row.pk])
    assert root_client.get(delete).status_code == 403
    assert root_client.post(delete, {"post": "yes"}).status_code == 403
    listing = root_client.get(reverse("admin:audit_auditlog_changelist"))
    assert listing.context["action_form"] is None or "delete_selected" not in dict(
        listing.context["action_form"].fields["action"].choices
    )
    row.refresh_from_db()
    assert row.action != "tampered"


def test_audit_changelist_filters_and_search(root_client, project, make_project, make_token):
    other = make_project("Other project")
    make_token(project, name="needle-token")
    url = reverse("admin:audit_auditlog_changelist")

    def rows(query: dict) -> list[AuditLog]:
        response = root_client.get(url, query)
        assert response.status_code == 200
        return list(response.context["cl"].result_list)

    assert {r.action for r in rows({"action__exact": "token_issue"})} == {"token_issue"}
    assert {r.actor_type for r in rows({"actor_type__exact": "system"})} == {"system"}
    assert {r.object_type for r in rows({"object_type__exact": "projects.apitoken"})} == {"projects.apitoken"}
    assert {r.project_uuid for r in rows({"project_uuid": str(other.uuid)})} == {other.uuid}
    assert [r.action for r in rows({"q": "needle-token"})] == ["token_issue"]
    today = timezone.localdate()
    assert rows({"time__year": today.year, "time__month": today.month, "time__day": today.day})
    yesterday = today - datetime.timedelta(days=1)
    assert not rows(
        {"time__year": yesterday.year, "time__month": yesterday.month, "time__day": yesterday.day}
    )


def test_audit_admin_scoped_by_role(staff_client, project, make_project):
    other = make_project("Other project")
    viewer = staff_client(project, Role.VIEWER, username="v")
    assert viewer.get(reverse("admin:audit_auditlog_changelist")).status_code == 403
    developer = staff_client(project, Role.DEVELOPER, username="d")
    response = developer.get(reverse("admin:audit_auditlog_changelist"))
    assert response.status_code == 200
    shown = {r.project_uuid for r in response.context["cl"].result_list}
    assert shown == {project.uuid}
    foreign = AuditLog.objects.filter(project_uuid=other.uuid).first()
    assert developer.get(reverse("admin:audit_auditlog_change", args=[foreign.pk])).status_code == 302


def test_request_log_read_only_filters_and_scope(root_client, staff_client, project, request_logs):
    url = reverse("admin:audit_requestlog_changelist")
    listing = root_client.get(url)
    assert listing.status_code == 200 and "Other project" in listing.content.decode()
    assert {r.status for r in root_client.get(url, {"status__exact": "502"}).context["cl"].result_list} == {
        502
    }
    assert {r.gateway for r in root_client.get(url, {"gateway__exact": "ai"}).context["cl"].result_list} == {
        "ai"
    }
    by_project = root_client.get(url, {"project_uuid": str(project.uuid)}).context["cl"].result_list
    assert {r.project_uuid for r in by_project} == {project.uuid}
    assert root_client.get(reverse("admin:audit_requestlog_add")).status_code == 403
    row = RequestLog.objects.first()
    assert root_client.post(reverse("admin:audit_requestlog_change", args=[row.pk]), {}).status_code == 403
    assert (
        root_client.post(reverse("admin:audit_requestlog_delete", args=[row.pk]), {"post": "yes"}).status_code
        == 403
    )
    assert RequestLog.objects.count() == 3

    developer = staff_client(project, Role.DEVELOPER)
    shown = developer.get(url).context["cl"].result_list
    assert {r.project_uuid for r in shown} == {project.uuid}


def test_token_admin_renames_but_never_adds_or_shows_digest(root_client, staff_client, project, make_token):
    token, plaintext = make_token(project, name="old-name")
    assert root_client.get(reverse("admin:projects_apitoken_add")).status_code == 403
    change = reverse("admin:projects_apitoken_change", args=[token.pk])
    page = root_client.get(change).content.decode()
    assert token.digest not in page and plaintext not in page
    assert root_client.post(change, {"name": "new-name"}).status_code == 302
    token.refresh_from_db()
    assert token.name == "new-name"
    assert AuditLog.objects.filter(
        action="update", object_type="projects.apitoken", actor_label="root"
    ).exists()
    assert (
        root_client.post(
            reverse("admin:projects_apitoken_delete", args=[token.pk]), {"post": "yes"}
        ).status_code
        == 403
    )

    viewer = staff_client(project, Role.VIEWER)
    assert viewer.get(change).status_code == 200
    assert viewer.post(change, {"name": "viewer-name"}).status_code == 403
    developer = staff_client(project, Role.DEVELOPER)
    listing = reverse("admin:projects_apitoken_changelist")
    assert (
        developer.post(listing, {"action": "revoke_tokens", "_selected_action": [token.pk]}).status_code
        == 302
    )
    token.refresh_from_db()
    assert token.revoked_at is not None
