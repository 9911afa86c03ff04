"""Issue 17, point 7: every refusal outside the admin is the JSON error shape, the OAuth callback included."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def assert_json_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    error = response.json()["error"]
    assert set(error) >= {"code", "message"}
    if code is not None:
        assert error["code"] == code
    return error


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("state=garbage", "invalid_state"),
        ("", "invalid_state"),
        ("code=abc&state=garbage", "invalid_state"),
        ("state=" + "x" * 5000, "invalid_state"),
        ("error=access_denied&state=%00", "invalid_state"),
    ],
)
def test_oauth_callback_refusals_are_json(query, code):
    response = Client().get(f"/oauth/callback?{query}", HTTP_ACCEPT="text/html")
    assert_json_error(response, 400, code)
    assert response["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_oauth_callback_other_methods_are_a_json_405(method):
    response = getattr(Client(enforce_csrf_checks=True), method)("/oauth/callback?state=x")
    assert_json_error(response, 405, "method_not_allowed")


def test_a_csrf_refusal_outside_the_admin_is_json(admin_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    response = client.post("/manage/api/v1/projects/", {"name": "x"}, content_type="application/json")
    assert_json_error(response, 403)


def test_token_endpoint_keeps_rfc_6749_shape():
    response = Client().post("/o/token/", {"grant_type": "client_credentials"})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
