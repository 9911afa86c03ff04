"""Management API and admin: a project's own request-log retention, shorter than the global one only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditLog, LogRetention
from projects.models import Role

pytestmark = pytest.mark.django_db


def url(project) -> str:
    return f"/manage/api/v1/projects/{project.uuid}/log-retention/"


def test_project_admins_shorten_retention_viewers_read_it(client_for, make_user, make_project, settings):
    settings.PROMPTGATE_LOG_RETENTION_DAYS, settings.PROMPTGATE_ROLLUP_RETENTION_DAYS = 30, 400
    project, other = make_project("Kept short"), make_project("Other")
    viewer = client_for(make_user("viewer", project, Role.VIEWER))
    admin = client_for(make_user("admin", project, Role.ADMIN))
    assert viewer.get(url(project)).json() == {
        "log_days": None,
        "rollup_days": None,
        "effective_log_days": 30,
        "effective_rollup_days": 400,
    }
    assert viewer.put(url(project), {"log_days": 7}, format="json").status_code == 403
    answer = admin.put(url(project), {"log_days": 7, "rollup_days": 90}, format="json")
    assert answer.status_code == 200, answer.content
    assert answer.json()["effective_log_days"] == 7 and answer.json()["effective_rollup_days"] == 90
    row = LogRetention.objects.get(project_uuid=project.uuid)
    assert (row.log_days, row.rollup_days) == (7, 90)
    change = AuditLog.objects.filter(object_type="audit.logretention").latest("id")
    assert change.actor_label == "admin" and change.after["log_days"] == 7  # audited
    longer = admin.put(url(project), {"log_days": 31}, format="json")
    assert longer.status_code == 400 and "log_days" in longer.json()["error"]["fields"]
    assert admin.put(url(project), {"log_days": 0}, format="json").status_code == 400
    assert admin.put(url(project), {"log_days": None}, format="json").json()["effective_log_days"] == 30
    assert admin.get(url(other)).status_code == 404  # not a member: the project does not exist for them
    assert admin.get("/manage/api/v1/projects/not-a-uuid/log-retention/").status_code == 404


def test_superusers_set_it_in_the_admin_within_the_global_retention(root_client, make_project, settings):
    settings.PROMPTGATE_LOG_RETENTION_DAYS = 30
    project = make_project("Admin side")
    add = reverse("admin:audit_logretention_add")
    refused = root_client.post(add, {"project_uuid": str(project.uuid), "log_days": 45})
    assert refused.status_code == 200 and "less than or equal to 30" in refused.content.decode()
    assert not LogRetention.objects.exists()
    saved = root_client.post(add, {"project_uuid": str(project.uuid), "log_days": 10})
    assert saved.status_code == 302 and LogRetention.objects.get().log_days == 10
