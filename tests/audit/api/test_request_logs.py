"""Management API, request logs: developer or above of the project, filters, cursor pagination."""

import datetime

import pytest
from django.utils import timezone

from audit.models import RequestLog
from projects.models import Role

pytestmark = pytest.mark.django_db

URL = "/manage/api/v1/request-logs/"


def log(project, status: int = 200, gateway: str = "http", minutes_ago: int = 0) -> RequestLog:
    return RequestLog.objects.create(
        time=timezone.now() - datetime.timedelta(minutes=minutes_ago),
        project_uuid=project.uuid,
        gateway=gateway,
        method="GET",
        path="/x",
        status=status,
    )


@pytest.mark.parametrize(("role", "visible"), [(Role.VIEWER, 0), (Role.DEVELOPER, 1), (Role.OWNER, 1)])
def test_developer_or_above_reads_request_logs(client_for, make_user, make_project, role, visible):
    mine, theirs = make_project("Mine"), make_project("Theirs")
    row = log(mine)
    log(theirs)
    client = client_for(make_user("member", mine, role))
    results = client.get(URL).json()["results"]
    assert [r["id"] for r in results] == [row.pk][:visible]
    assert client.get(f"{URL}{row.pk}/").status_code == (200 if visible else 404)


def test_filters_and_pagination(root_client, make_project):
    project, other = make_project("Mine"), make_project("Other")
    log(project, status=200, gateway="ai", minutes_ago=30)
    log(project, status=502, gateway="http", minutes_ago=5)
    log(other, status=200, gateway="mcp")

    def ids(**params):
        response = root_client.get(URL, params)
        assert response.status_code == 200, response.content
        return [(r["status"], r["gateway"]) for r in response.json()["results"]]

    assert ids(project=str(project.uuid)) == [(502, "http"), (200, "ai")]
    assert ids(status=502) == [(502, "http")]
    assert ids(gateway="mcp") == [(200, "mcp")]
    since = (timezone.now() - datetime.timedelta(minutes=10)).isoformat()
    until = (timezone.now() - datetime.timedelta(minutes=10)).isoformat()
    assert ids(since=since, project=str(project.uuid)) == [(502, "http")]
    assert ids(until=until) == [(200, "ai")]
    body = root_client.get(URL, {"page_size": 1}).json()
    assert len(body["results"]) == 1 and body["next"]
    assert root_client.get(URL, {"status": "teapot"}).status_code == 400
