"""Management API, audit logs: read-only, filters, cursor pagination, membership visibility."""

import datetime

import pytest
from django.utils import timezone

from audit import context
from audit.models import AuditLog
from audit.services import record
from projects.models import Role

pytestmark = pytest.mark.django_db

URL = "/manage/api/v1/audit-logs/"


def rows(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_members_see_only_their_projects_rows(client_for, make_user, make_project):
    mine, theirs = make_project("Mine"), make_project("Theirs")
    viewer = client_for(make_user("viewer", mine, Role.VIEWER))
    projects = {r["project_uuid"] for r in rows(viewer.get(URL))}
    assert projects == {str(mine.uuid)}
    theirs_row = AuditLog.objects.filter(project_uuid=theirs.uuid).first()
    assert viewer.get(f"{URL}{theirs_row.pk}/").status_code == 404
    assert client_for(make_user("stranger")).get(URL).json()["results"] == []


def test_superusers_see_everything_including_global_rows(root_client, make_project):
    make_project()
    with context.bind(actor=context.SYSTEM):
        record("key_rotation", object_type="credentials.credential")
    actions = {r["action"] for r in rows(root_client.get(URL))}
    assert {"create", "key_rotation"} <= actions


def test_filters(root_client, make_project, make_user):
    project = make_project()
    other = make_project("Other")
    with context.bind(actor=context.Actor(kind="api_client", id="cid-1", label="ci-bot")):
        record("token_issue", instance=project)
    assert {r["project_uuid"] for r in rows(root_client.get(URL, {"project": str(other.uuid)}))} == {
        str(other.uuid)
    }
    by_label = rows(root_client.get(URL, {"actor": "ci-bot"}))
    by_id = rows(root_client.get(URL, {"actor": "cid-1"}))
    assert [r["id"] for r in by_label] == [r["id"] for r in by_id] and len(by_id) == 1
    assert {r["actor_type"] for r in rows(root_client.get(URL, {"actor_type": "api_client"}))} == {
        "api_client"
    }
    assert {r["action"] for r in rows(root_client.get(URL, {"action": "token_issue"}))} == {"token_issue"}
    assert {r["object_type"] for r in rows(root_client.get(URL, {"object_type": "projects.project"}))} == {
        "projects.project"
    }
    future = (timezone.now() + datetime.timedelta(hours=1)).isoformat()
    assert rows(root_client.get(URL, {"since": future})) == []
    assert len(rows(root_client.get(URL, {"until": future}))) == AuditLog.objects.count()
    response = root_client.get(URL, {"project": "not-a-uuid", "since": "yesterday"})
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"project", "since"}


def test_cursor_pagination_walks_newest_first(root_client, make_project):
    for n in range(5):
        make_project(f"Project {n}")
    seen, url = [], URL + "?page_size=2"
    while url:
        body = root_client.get(url).json()
        assert set(body) == {"next", "previous", "results"}
        seen += [(r["time"], r["id"]) for r in body["results"]]
        url = body["next"]
    assert len(seen) == AuditLog.objects.count()
    assert seen == sorted(seen, reverse=True)
    assert root_client.get(URL, {"cursor": "garbage"}).status_code == 404
    # A well-formed cursor carrying a bogus position is a bad cursor too, not a 500.
    import base64

    forged = base64.b64encode(b"p=not-a-time").decode()
    response = root_client.get(URL, {"cursor": forged})
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_audit_log_is_read_only(root_client, make_project):
    make_project()
    row = AuditLog.objects.first()
    assert root_client.post(URL, {}, format="json").status_code == 405
    assert root_client.delete(f"{URL}{row.pk}/").status_code == 405
    assert root_client.patch(f"{URL}{row.pk}/", {"action": "x"}, format="json").status_code == 405
