"""Admin console, API endpoints: add/change/validation, write-only injected headers, role scoping."""

import html
import json

import pytest
from django.urls import reverse

from audit.models import AuditLog
from gateways.http.models import ApiEndpoint
from projects.models import Role
from tests.gateways.http.conftest import PUBLIC_URL, SECRET

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:http_apiendpoint_add")
LIST_URL = reverse("admin:http_apiendpoint_changelist")


def change_url(endpoint: ApiEndpoint) -> str:
    return reverse("admin:http_apiendpoint_change", args=[endpoint.pk])


def form_data(project=None, **overrides) -> dict:
    data = {
        "slug": "weather",
        "upstream_url": PUBLIC_URL,
        "allowed_methods": ["GET", "POST"],
        "forward_headers": "",
        "blocked_headers": "",
        "oauth_connection": "",
        "timeout_seconds": "30",
        "strip_path_prefix": "",
        "preserve_query": "on",
        "rate_limit_per_minute": "",
        "rate_limit_per_hour": "",
        "max_body_bytes": "",
        "enabled": "on",
        "inject_headers_json": "",
    }
    if project is not None:
        data["project"] = str(project.pk)
    data.update(overrides)
    return data


@pytest.fixture
def endpoint(project) -> ApiEndpoint:
    row = ApiEndpoint(project=project, slug="weather", upstream_url=PUBLIC_URL)
    row.inject_headers = {"X-Upstream-Key": SECRET}
    row.save()
    return row


def test_superuser_adds_an_endpoint_with_injected_headers(root_client, project):
    data = form_data(
        project,
        forward_headers="Accept, X-Trace",
        inject_headers_json=f'{{"X-Upstream-Key": "{SECRET}"}}',
    )
    response = root_client.post(ADD_URL, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    endpoint = ApiEndpoint.objects.get()
    assert endpoint.project == project and endpoint.allowed_methods == ["GET", "POST"]
    assert endpoint.forward_headers == ["Accept", "X-Trace"]
    assert endpoint.inject_headers == {"X-Upstream-Key": SECRET}
    row = AuditLog.objects.get(object_type="http.apiendpoint", action="create")
    assert row.after["inject_headers_encrypted"] == "********" and SECRET not in str(row.after)


def test_change_page_shows_header_names_never_values(root_client, endpoint):
    page = root_client.get(change_url(endpoint)).content.decode()
    assert "X-Upstream-Key" in page and "inject_headers_json" in page
    assert SECRET not in page


def test_blank_textarea_keeps_headers_and_braces_clear_them(root_client, endpoint):
    response = root_client.post(change_url(endpoint), form_data(timeout_seconds="9"))
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.timeout_seconds == 9 and endpoint.inject_headers == {"X-Upstream-Key": SECRET}
    assert root_client.post(change_url(endpoint), form_data(inject_headers_json="{}")).status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.inject_headers == {}


@pytest.mark.parametrize(
    ("url", "address_class"),
    [
        ("http://127.0.0.1/", "loopback"),
        ("http://169.254.169.254/", "metadata"),
        ("http://2130706433/", "loopback"),
    ],
)
def test_ssrf_refusal_is_shown_on_the_form(root_client, project, url, address_class):
    response = root_client.post(ADD_URL, form_data(project, upstream_url=url))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert address_class in errors["upstream_url"][0]
    assert not ApiEndpoint.objects.exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"inject_headers_json": "{not json"}, "inject_headers_json"),
        ({"inject_headers_json": '{"X-Evil": "a\\r\\nHost: evil"}'}, "inject_headers_json"),
        ({"inject_headers_json": '["X-Evil"]'}, "inject_headers_json"),
        ({"timeout_seconds": "301"}, "timeout_seconds"),
        ({"allowed_methods": ["FETCH"]}, "allowed_methods"),
        ({"forward_headers": "bad header"}, "forward_headers"),
    ],
)
def test_validation_errors_are_shown_and_typed_secrets_not_echoed(root_client, project, changes, field):
    typed = {"inject_headers_json": f'{{"X-Upstream-Key": "{SECRET}"}}'}
    response = root_client.post(ADD_URL, form_data(project, **{**typed, **changes}))
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert SECRET not in response.content.decode()
    assert not ApiEndpoint.objects.exists()


def test_duplicate_slug_on_change_is_a_form_error(root_client, endpoint, project):
    ApiEndpoint.objects.create(project=project, slug="other", upstream_url=PUBLIC_URL)
    response = root_client.post(change_url(endpoint), form_data(slug="other"))
    assert response.status_code == 200
    assert "slug" in response.context["adminform"].form.errors
    response = root_client.post(ADD_URL, form_data(project, slug="other"))
    assert response.status_code == 200
    assert "slug" in response.context["adminform"].form.errors


def test_other_projects_oauth_connection_is_refused(root_client, make_project, make_connection, project):
    foreign = make_connection(make_project("Other project"))
    response = root_client.post(ADD_URL, form_data(project, oauth_connection=str(foreign.pk)))
    assert response.status_code == 200
    assert "oauth_connection" in response.context["adminform"].form.errors
    own = make_connection(project)
    assert root_client.post(ADD_URL, form_data(project, oauth_connection=str(own.pk))).status_code == 302
    assert ApiEndpoint.objects.get().oauth_connection == own


def test_only_api_gateway_projects_are_offered(root_client, make_project, project):
    ai = make_project("AI project", project_type="ai_gateway")
    form = root_client.get(ADD_URL).context["adminform"].form
    assert list(form.fields["project"].queryset) == [project]
    response = root_client.post(ADD_URL, form_data(ai))
    assert response.status_code == 200 and "project" in response.context["adminform"].form.errors


@pytest.mark.parametrize("role", [Role.VIEWER, Role.DEVELOPER])
def test_viewer_and_developer_read_only(staff_client, endpoint, project, role):
    client = staff_client(project, role)
    listing = client.get(LIST_URL)
    assert listing.status_code == 200 and "weather" in listing.content.decode()
    page = client.get(change_url(endpoint))
    assert page.status_code == 200
    html = page.content.decode()
    assert "X-Upstream-Key" in html and SECRET not in html and "inject_headers_json" not in html
    assert client.get(ADD_URL).status_code == 403
    assert client.post(change_url(endpoint), form_data(timeout_seconds="9")).status_code == 403
    endpoint.refresh_from_db()
    assert endpoint.timeout_seconds == 30


def test_project_admin_manages_own_projects_only(staff_client, make_project, endpoint, project):
    other = make_project("Other project")
    hidden = ApiEndpoint.objects.create(project=other, slug="secret-slug", upstream_url=PUBLIC_URL)
    client = staff_client(project, Role.ADMIN)
    listing = client.get(LIST_URL).content.decode()
    assert "weather" in listing and "secret-slug" not in listing and "Other project" not in listing
    assert client.get(change_url(hidden)).status_code == 302
    form = client.get(ADD_URL).context["adminform"].form
    assert list(form.fields["project"].queryset) == [project]
    response = client.post(ADD_URL, form_data(other, slug="sneaky"))
    assert response.status_code == 200 and "project" in response.context["adminform"].form.errors
    response = client.post(change_url(endpoint), form_data(enabled=""))
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.enabled is False
    assert (
        client.post(reverse("admin:http_apiendpoint_delete", args=[endpoint.pk]), {"post": "yes"}).status_code
        == 302
    )
    assert not ApiEndpoint.objects.filter(pk=endpoint.pk).exists()


def test_project_cannot_be_moved_on_change(root_client, make_project, endpoint):
    other = make_project("Other project")
    response = root_client.post(change_url(endpoint), form_data(other))
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.project.name == "Demo project"


def test_replacing_a_header_value_leaves_an_audit_row(root_client, endpoint):
    before = AuditLog.objects.filter(object_type="http.apiendpoint", action="update").count()
    data = form_data(inject_headers_json=f'{{"X-Upstream-Key": "rotated-{SECRET}"}}')
    assert root_client.post(change_url(endpoint), data).status_code == 302
    rows = AuditLog.objects.filter(object_type="http.apiendpoint", action="update")
    assert rows.count() == before + 1
    assert SECRET not in str(list(rows.values_list("before", "after")))
    endpoint.refresh_from_db()
    assert endpoint.inject_headers == {"X-Upstream-Key": f"rotated-{SECRET}"}


def test_the_inject_headers_example_in_the_help_is_accepted(root_client, project):
    from gateways.http.admin import INJECT_EXAMPLE

    page = root_client.get(ADD_URL).content.decode()
    assert html.escape(INJECT_EXAMPLE, quote=True) in page or INJECT_EXAMPLE in page
    response = root_client.post(ADD_URL, form_data(project, inject_headers_json=INJECT_EXAMPLE))
    assert response.status_code == 302
    assert ApiEndpoint.objects.get().inject_headers == json.loads(INJECT_EXAMPLE)
