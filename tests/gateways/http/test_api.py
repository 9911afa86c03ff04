"""Management API, API endpoints: CRUD keyed by slug, write-only injected headers, roles, audit."""

import pytest

from audit.models import AuditLog
from gateways.http.models import ApiEndpoint
from projects.models import Role
from tests.gateways.http.conftest import PUBLIC_URL, SECRET, body, endpoints_url

pytestmark = pytest.mark.django_db

WIRE_FIELDS = {
    "id",
    "slug",
    "upstream_url",
    "allowed_methods",
    "forward_headers",
    "blocked_headers",
    "inject_header_names",
    "oauth_connection",
    "timeout_seconds",
    "strip_path_prefix",
    "preserve_query",
    "rate_limit_per_minute",
    "rate_limit_per_hour",
    "rate_limit_per_token",
    "max_body_bytes",
    "enabled",
    "created_at",
    "updated_at",
}


def test_admin_creates_reads_changes_and_deletes(client_for, make_user, project):
    client = client_for(make_user("boss", project, Role.ADMIN))
    response = client.post(endpoints_url(project), body(timeout_seconds=12), format="json")
    assert response.status_code == 201, response.content
    created = response.json()
    assert set(created) == WIRE_FIELDS
    assert created["inject_header_names"] == ["X-Upstream-Key"] and created["timeout_seconds"] == 12
    assert created["allowed_methods"] == ["GET", "POST"] and created["oauth_connection"] is None

    listed = client.get(endpoints_url(project)).json()["results"]
    assert [e["slug"] for e in listed] == ["weather"]
    assert client.get(endpoints_url(project, "weather/")).json() == created

    response = client.patch(
        endpoints_url(project, "weather/"), {"slug": "forecast", "rate_limit_per_minute": 60}, format="json"
    )
    assert response.status_code == 200, response.content
    changed = response.json()
    assert changed["slug"] == "forecast" and changed["rate_limit_per_minute"] == 60
    assert client.get(endpoints_url(project, "weather/")).status_code == 404

    assert client.delete(endpoints_url(project, "forecast/")).status_code == 204
    assert not ApiEndpoint.objects.exists()
    trail = AuditLog.objects.filter(object_type="http.apiendpoint", actor_label="boss")
    assert sorted(trail.values_list("action", flat=True)) == ["create", "delete", "update"]
    assert set(trail.values_list("project_uuid", flat=True)) == {project.uuid}


def test_get_then_put_round_trip_keeps_injected_headers(root_client, project):
    root_client.post(endpoints_url(project), body(), format="json")
    current = root_client.get(endpoints_url(project, "weather/")).json()
    response = root_client.put(
        endpoints_url(project, "weather/"), {**current, "enabled": False}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["enabled"] is False
    assert ApiEndpoint.objects.get().inject_headers == {"X-Upstream-Key": SECRET}


def test_injected_headers_are_write_only_kept_replaced_and_cleared(root_client, project):
    url = endpoints_url(project, "weather/")
    root_client.post(endpoints_url(project), body(), format="json")
    assert root_client.patch(url, {"timeout_seconds": 5}, format="json").status_code == 200
    assert ApiEndpoint.objects.get().inject_headers == {"X-Upstream-Key": SECRET}

    replaced = root_client.patch(url, {"inject_headers": {"X-Other": "v2", "X-Third": ""}}, format="json")
    assert replaced.json()["inject_header_names"] == ["X-Other", "X-Third"]
    assert ApiEndpoint.objects.get().inject_headers == {"X-Other": "v2", "X-Third": ""}

    cleared = root_client.patch(url, {"inject_headers": {}}, format="json")
    assert cleared.json()["inject_header_names"] == []
    assert ApiEndpoint.objects.get().inject_headers_encrypted == ""


def test_injected_values_never_appear_in_reads_or_the_audit_trail(root_client, project):
    root_client.post(endpoints_url(project), body(), format="json")
    root_client.patch(
        endpoints_url(project, "weather/"),
        {"inject_headers": {"X-Upstream-Key": "v2-" + SECRET}},
        format="json",
    )
    reads = [
        root_client.get(endpoints_url(project)),
        root_client.get(endpoints_url(project, "weather/")),
        root_client.get("/manage/api/v1/audit-logs/"),
    ]
    for response in reads:
        assert response.status_code == 200
        assert SECRET not in response.content.decode()
    rows = AuditLog.objects.filter(object_type="http.apiendpoint")
    assert rows.count() == 2
    for row in rows:
        assert SECRET not in str(row.before) + str(row.after)
    # Masked: the create shows only that a value is set; the rotation is recorded, its values are not.
    assert rows.get(action="create").after["inject_headers_encrypted"] == "********"
    assert rows.filter(action="update").exists()


@pytest.mark.parametrize("role", [Role.VIEWER, Role.DEVELOPER])
def test_below_admin_reads_but_cannot_write(client_for, make_user, root_client, project, role):
    root_client.post(endpoints_url(project), body(), format="json")
    client = client_for(make_user("member", project, role))
    assert client.get(endpoints_url(project)).status_code == 200
    assert client.get(endpoints_url(project, "weather/")).status_code == 200
    assert client.post(endpoints_url(project), body(slug="other"), format="json").status_code == 403
    assert (
        client.patch(endpoints_url(project, "weather/"), {"enabled": False}, format="json").status_code == 403
    )
    assert client.put(endpoints_url(project, "weather/"), body(), format="json").status_code == 403
    assert client.delete(endpoints_url(project, "weather/")).status_code == 403
    assert ApiEndpoint.objects.get().enabled is True


def test_owner_writes_outsiders_get_404_anonymous_401(client_for, make_user, root_client, project):
    owner = client_for(make_user("olga", project, Role.OWNER))
    assert owner.post(endpoints_url(project), body(), format="json").status_code == 201
    outsider = client_for(make_user("eve"))
    assert outsider.get(endpoints_url(project)).status_code == 404
    assert outsider.get(endpoints_url(project, "weather/")).status_code == 404
    assert outsider.delete(endpoints_url(project, "weather/")).status_code == 404
    anonymous = client_for(None).get(endpoints_url(project))
    assert anonymous.status_code == 401 and "error" in anonymous.json()


def test_endpoints_of_another_project_are_not_reachable(root_client, make_project, project):
    other = make_project("Other project")
    root_client.post(endpoints_url(other), body(), format="json")
    assert root_client.get(endpoints_url(project, "weather/")).status_code == 404
    assert root_client.get(endpoints_url(project)).json()["results"] == []


@pytest.mark.parametrize("project_type", ["ai_gateway", "ai_wrapper", "mcp_gateway"])
def test_wrong_project_type_is_refused(root_client, make_project, project_type):
    other = make_project("Not a gateway", project_type=project_type)
    response = root_client.post(endpoints_url(other), body(), format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "wrong_project_type"
    assert not ApiEndpoint.objects.exists()


def test_oauth_connection_of_the_same_project_only(root_client, make_project, make_connection, project):
    own, foreign = make_connection(project), make_connection(make_project("Other project"))
    response = root_client.post(endpoints_url(project), body(oauth_connection=foreign.pk), format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error" and "oauth_connection" in error["fields"]
    response = root_client.post(endpoints_url(project), body(oauth_connection=own.pk), format="json")
    assert response.status_code == 201 and response.json()["oauth_connection"] == own.pk
    response = root_client.patch(
        endpoints_url(project, "weather/"), {"oauth_connection": None}, format="json"
    )
    assert response.json()["oauth_connection"] is None


def test_defaults_on_a_minimal_create(root_client, project):
    response = root_client.post(
        endpoints_url(project), {"slug": "min", "upstream_url": PUBLIC_URL}, format="json"
    )
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["timeout_seconds"] == 30 and data["enabled"] is True and data["preserve_query"] is True
    assert data["allowed_methods"] == ["GET", "POST", "PUT", "PATCH", "DELETE"]
    assert data["inject_header_names"] == [] and data["rate_limit_per_minute"] is None
