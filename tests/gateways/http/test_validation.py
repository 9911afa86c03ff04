"""Management API, API endpoints: SSRF refusals, validation errors with fields, unknown fields, atomicity."""

import pytest
from django.test import override_settings

from gateways.http.models import ApiEndpoint
from tests.gateways.http.conftest import SECRET, body, endpoints_url

pytestmark = pytest.mark.django_db

BLOCKED = [
    ("http://127.0.0.1:8080/", "loopback"),
    ("http://localhost/v1", "loopback"),
    ("http://169.254.169.254/latest/meta-data/", "metadata"),
    ("http://10.0.0.1/", "private"),
    ("http://2130706433/", "loopback"),
]


@pytest.mark.parametrize(("url", "address_class"), BLOCKED)
def test_blocked_upstreams_answer_ssrf_blocked_naming_the_class(root_client, project, url, address_class):
    response = root_client.post(endpoints_url(project), body(upstream_url=url), format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "ssrf_blocked"
    assert address_class in error["message"] and address_class in error["fields"]["upstream_url"][0]
    assert not ApiEndpoint.objects.exists()


def test_an_update_to_a_blocked_upstream_is_refused_and_changes_nothing(root_client, project):
    root_client.post(endpoints_url(project), body(), format="json")
    response = root_client.patch(
        endpoints_url(project, "weather/"),
        {"upstream_url": "http://10.0.0.1/", "inject_headers": {"X-New": "v"}, "enabled": False},
        format="json",
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "ssrf_blocked"
    endpoint = ApiEndpoint.objects.get()
    assert endpoint.enabled is True and endpoint.inject_headers == {"X-Upstream-Key": SECRET}


@override_settings(PROMPTGATE_SSRF_ALLOW=["127.0.0.0/8"])
@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/", "http://localhost/v1"])
def test_allowlisted_loopback_is_admitted(root_client, project, url):
    response = root_client.post(endpoints_url(project), body(upstream_url=url), format="json")
    assert response.status_code == 201, response.content
    assert response.json()["upstream_url"] == url


@override_settings(PROMPTGATE_SSRF_ALLOW=["127.0.0.0/8"])
def test_allowlisted_decimal_host_passes_the_guard_but_not_url_syntax(root_client, project):
    # The guard admits 2130706433 (= 127.0.0.1) here; the model's URL syntax check still refuses it.
    response = root_client.post(
        endpoints_url(project), body(upstream_url="http://2130706433/"), format="json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error" and "upstream_url" in error["fields"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"inject_headers": {"X-Evil": "a\r\nHost: evil"}}, "inject_headers"),
        ({"inject_headers": {"X-Evil": "line\nbreak"}}, "inject_headers"),
        ({"inject_headers": {"Authorization": "Bearer x"}}, "inject_headers"),
        ({"inject_headers": {"bad name": "v"}}, "inject_headers"),
        ({"inject_headers": ["not", "an", "object"]}, "inject_headers"),
        ({"allowed_methods": ["GET", "FETCH"]}, "allowed_methods"),
        ({"allowed_methods": []}, "allowed_methods"),
        ({"allowed_methods": "GET"}, "allowed_methods"),
        ({"forward_headers": ["X-Ok", "bad header"]}, "forward_headers"),
        ({"timeout_seconds": 0}, "timeout_seconds"),
        ({"timeout_seconds": 301}, "timeout_seconds"),
        ({"slug": "Not A Slug"}, "slug"),
        ({"upstream_url": "ftp://93.184.216.34/"}, "upstream_url"),
        ({"upstream_url": "not a url"}, "upstream_url"),
        ({"rate_limit_per_minute": 0}, "rate_limit_per_minute"),
        ({"max_body_bytes": 2**70}, "max_body_bytes"),
    ],
)
def test_invalid_input_is_a_validation_error_with_fields(root_client, project, changes, field):
    response = root_client.post(endpoints_url(project), body(**changes), format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error", error
    assert field in error["fields"]
    assert SECRET not in response.content.decode()


def test_duplicate_slug_is_refused_on_create_and_on_rename(root_client, project):
    assert root_client.post(endpoints_url(project), body(), format="json").status_code == 201
    response = root_client.post(endpoints_url(project), body(), format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert "slug" in response.json()["error"]["fields"]
    root_client.post(endpoints_url(project), body(slug="second"), format="json")
    response = root_client.patch(endpoints_url(project, "second/"), {"slug": "weather"}, format="json")
    assert response.status_code == 400 and "slug" in response.json()["error"]["fields"]


def test_the_same_slug_in_two_projects_is_fine(root_client, make_project, project):
    other = make_project("Other project")
    assert root_client.post(endpoints_url(project), body(), format="json").status_code == 201
    assert root_client.post(endpoints_url(other), body(), format="json").status_code == 201


@pytest.mark.parametrize("extra", [{"project": 1}, {"inject_headers_encrypted": "x"}, {"colour": "blue"}])
def test_unknown_fields_are_refused(root_client, project, extra):
    response = root_client.post(endpoints_url(project), body(**extra), format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error" and set(error["fields"]) == set(extra)
    root_client.post(endpoints_url(project), body(), format="json")
    response = root_client.patch(endpoints_url(project, "weather/"), extra, format="json")
    assert response.status_code == 400 and set(response.json()["error"]["fields"]) == set(extra)


def test_read_only_fields_echoed_back_are_ignored(root_client, project):
    created = root_client.post(endpoints_url(project), body(), format="json").json()
    response = root_client.patch(
        endpoints_url(project, "weather/"),
        {"id": 999, "inject_header_names": ["Nope"], "created_at": "2000-01-01T00:00:00Z"},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["id"] == created["id"]
    assert response.json()["inject_header_names"] == ["X-Upstream-Key"]


def test_malformed_json_is_a_json_400(root_client, project):
    response = root_client.generic(
        "POST", endpoints_url(project), "{not json", content_type="application/json"
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "malformed_json"
