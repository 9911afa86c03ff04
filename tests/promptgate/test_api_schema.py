"""OpenAPI: the schema describes every management endpoint without warnings; Swagger UI is served."""

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_schema_generates_without_warnings(tmp_path):
    # --fail-on-warn turns any drf-spectacular warning or error into a failure.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))


def test_schema_lists_every_resource(root_client):
    response = root_client.get("/manage/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/manage/api/v1/projects/",
        "/manage/api/v1/projects/{uuid}/",
        "/manage/api/v1/projects/{uuid}/activate/",
        "/manage/api/v1/projects/{uuid}/deactivate/",
        "/manage/api/v1/projects/{uuid}/revoke-tokens/",
        "/manage/api/v1/projects/{project_uuid}/tokens/",
        "/manage/api/v1/projects/{project_uuid}/tokens/{id}/",
        "/manage/api/v1/projects/{project_uuid}/tokens/{id}/revoke/",
        "/manage/api/v1/projects/{project_uuid}/members/",
        "/manage/api/v1/projects/{project_uuid}/members/{id}/",
        "/manage/api/v1/audit-logs/",
        "/manage/api/v1/audit-logs/{id}/",
        "/manage/api/v1/request-logs/",
        "/manage/api/v1/request-logs/{id}/",
    ):
        assert path in paths, path
    token_create = paths["/manage/api/v1/projects/{project_uuid}/tokens/"]["post"]
    assert set(token_create["responses"]) >= {"201", "400", "401", "403", "404", "409"}


def test_swagger_ui_is_served(root_client):
    response = root_client.get("/manage/api/v1/docs/")
    assert response.status_code == 200 and b"swagger" in response.content.lower()


def test_the_served_schema_is_the_one_fuzzed(root_client):
    """tests/hardening/test_management_fuzz.py runs schemathesis on the generated schema: it is what /schema/ serves."""
    from tests.hardening.test_management_fuzz import served_schema

    response = root_client.get("/manage/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.json() == served_schema()
    strict = response.json()["components"]["schemas"]["ProjectRequest"]
    assert strict["additionalProperties"] is False  # unknown fields are refused: the schema says so
