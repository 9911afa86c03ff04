"""What a new operator tripped over in the console (issue 21 point 7), each page as the test client sees it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from credentials.models import Credential, OAuthConnection
from gateways.http.models import ApiEndpoint

pytestmark = pytest.mark.django_db


def test_mcp_prefix_help_shows_the_tool_name_form(root_client):
    page = root_client.get(reverse("admin:mcp_mcpserver_add")).content.decode()
    # Django renders help text as HTML: "<prefix>__<tool>" came out as "__".
    assert "Tools appear to clients as PREFIX__TOOL" in page
    assert "github__create_issue" in page


def test_keep_the_current_secret_is_said_on_change_pages_only(root_client):
    add = root_client.get(reverse("admin:credentials_credential_add")).content.decode()
    assert "Write-only" in add and "keep the current key" not in add
    credential = Credential.objects.create(provider="openai", name="main", api_key="sk-" + "a" * 40)
    change = root_client.get(reverse("admin:credentials_credential_change", args=[credential.pk]))
    assert "Leave empty to keep the current key." in change.content.decode()
    mcp_add = root_client.get(reverse("admin:mcp_mcpserver_add")).content.decode()
    assert "Blank keeps it" not in mcp_add
    oauth_add = root_client.get(reverse("admin:credentials_oauthconnection_add")).content.decode()
    assert "keep the current secret" not in oauth_add


def test_ssrf_refusal_says_how_to_allow_an_internal_upstream(root_client, project):
    response = root_client.post(
        reverse("admin:http_apiendpoint_add"),
        {
            "project": project.pk,
            "slug": "inside",
            "upstream_url": "http://127.0.0.1:9/",
            "allowed_methods": ["GET"],
            "timeout_seconds": "30",
            "enabled": "on",
        },
    )
    assert response.status_code == 200
    (message,) = response.context["adminform"].form.errors["upstream_url"]
    assert "loopback" in message and "PROMPTGATE_SSRF_ALLOW" in message
    assert not ApiEndpoint.objects.exists()


def test_no_view_site_link_to_a_missing_site(root_client):
    page = root_client.get(reverse("admin:index")).content.decode()
    assert "View site" not in page


def test_oauth_pages_show_the_callback_uri_to_register(root_client, make_project):
    project = make_project("Calendar", project_type="api_gateway")
    callback = "http://testserver/oauth/callback"
    assert callback in root_client.get(reverse("admin:credentials_oauthconnection_add")).content.decode()
    conn = OAuthConnection.objects.create(
        project=project, name="github", provider="github", client_id="cid", client_secret="csecret"
    )
    page = root_client.get(reverse("admin:credentials_oauthconnection_change", args=[conn.pk]))
    assert callback in page.content.decode()


def test_the_deactivate_button_asks_first(root_client, project):
    page = root_client.get(reverse("admin:projects_project_change", args=[project.pk])).content.decode()
    form_start = page.index(reverse("admin:projects_project_action", args=[project.pk, "deactivate"]))
    assert "return confirm('Deactivate" in page[form_start : form_start + 400]
