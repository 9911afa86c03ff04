"""Issuing a token from the project page: the plaintext is in that one response and in no table."""

from __future__ import annotations

import datetime
import re

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditLog
from projects.models import ApiToken

pytestmark = pytest.mark.django_db

PLAINTEXT = re.compile(r"pg_(?:live|test)_[0-9A-Za-z]{30,}")


def issue_url(project) -> str:
    return reverse("admin:projects_project_issue_token", args=[project.pk])


def dump_database() -> str:
    """Every row of every table, as text (django_session included)."""
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            chunks.append(f"{table}: {cursor.fetchall()!r}")
    return "\n".join(chunks)


def test_issue_shows_plaintext_once_and_stores_it_nowhere(root_client, project):
    form = root_client.get(issue_url(project))
    assert form.status_code == 200
    assert b'name="scopes"' in form.content and b'value="90d"' in form.content

    posted = root_client.post(
        issue_url(project),
        {"name": "ci-bot", "scopes": ["ai", "admin"], "duration": "7d", "max_requests": "500"},
    )
    # POST-redirect-GET: the answer to the POST is a redirect, so a reload never posts again.
    token = ApiToken.objects.get(project=project)
    assert posted.status_code == 302 and posted["Location"] == f"{issue_url(project)}?issued={token.pk}"
    assert not PLAINTEXT.search(posted.content.decode())
    response = root_client.get(posted["Location"])
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    body = response.content.decode()
    (plaintext,) = set(PLAINTEXT.findall(body))
    assert plaintext.startswith(token.prefix)
    assert token.scopes == ["admin", "ai"] and token.max_requests == 500
    assert token.expires_at - timezone.now() > datetime.timedelta(days=6, hours=23)
    assert AuditLog.objects.filter(action="token_issue", actor_label="root", object_id=str(token.pk)).exists()

    # Not in any table, the session table included (raw and decoded).
    assert plaintext not in dump_database()
    assert plaintext[len(token.prefix) :] not in dump_database()
    for session in Session.objects.all():
        assert plaintext not in repr(session.get_decoded())
    # Not carried over to the next page (no messages framework, no session).
    following = root_client.get(reverse("admin:projects_project_change", args=[project.pk]))
    assert plaintext not in following.content.decode()
    assert token.prefix in following.content.decode()


def test_explicit_expiry_and_never(root_client, project):
    when = (timezone.localtime() + datetime.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    response = root_client.post(
        issue_url(project),
        {"name": "dated", "scopes": ["proxy"], "duration": "custom", "expires_at": when},
        follow=True,
    )
    assert response.status_code == 200 and PLAINTEXT.search(response.content.decode())
    response = root_client.post(
        issue_url(project), {"name": "forever", "scopes": ["proxy"], "duration": "never"}
    )
    assert response.status_code == 302
    dated, forever = ApiToken.objects.get(name="dated"), ApiToken.objects.get(name="forever")
    assert datetime.timedelta(days=2) < dated.expires_at - timezone.now() < datetime.timedelta(days=4)
    assert forever.expires_at is None


@pytest.mark.parametrize(
    ("data", "field", "status"),
    [
        ({"name": "x", "duration": "7d"}, "scopes", 200),
        ({"name": "x", "scopes": ["nope"], "duration": "7d"}, "scopes", 200),
        ({"name": "", "scopes": ["ai"], "duration": "7d"}, "name", 200),
        ({"name": "x", "scopes": ["ai"], "duration": "custom"}, "expires_at", 200),
        # A past date passes the form and is refused by the token service: 400, the form again.
        (
            {"name": "x", "scopes": ["ai"], "duration": "custom", "expires_at": "2001-01-01T00:00"},
            "expires_at",
            400,
        ),
        ({"name": "x", "scopes": ["ai"], "duration": "7d", "max_requests": "0"}, "max_requests", 200),
    ],
)
def test_bad_input_shows_field_errors_and_issues_nothing(root_client, project, data, field, status):
    response = root_client.post(issue_url(project), data)
    assert response.status_code == status  # the form again, with its errors
    assert field in response.context["form"].errors
    assert not PLAINTEXT.search(response.content.decode())
    assert not ApiToken.objects.exists()


def test_inactive_project_refuses_with_clear_error(root_client, make_project):
    project = make_project("Sleeping", is_active=False)
    page = root_client.get(issue_url(project))
    assert "Cannot generate tokens for inactive project" in page.content.decode()
    response = root_client.post(issue_url(project), {"name": "x", "scopes": ["ai"], "duration": "1h"})
    assert response.status_code == 409
    assert "Cannot generate tokens for inactive project" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_issue_unknown_project_is_404(root_client):
    assert root_client.get(reverse("admin:projects_project_issue_token", args=[999999])).status_code == 404


def test_issue_with_an_mcp_tool_allowlist(root_client, make_project):
    project = make_project("Tools", project_type="mcp_gateway")
    response = root_client.post(
        issue_url(project),
        {
            "name": "narrow",
            "scopes": ["mcp"],
            "duration": "7d",
            "mcp_tools": "github__*, alpha__add\nbeta__*",
        },
    )
    assert response.status_code == 302
    assert ApiToken.objects.get(project=project).mcp_tools == ["github__*", "alpha__add", "beta__*"]
    refused = root_client.post(
        issue_url(project), {"name": "bad", "scopes": ["mcp"], "duration": "7d", "mcp_tools": "no spaces"}
    )
    assert refused.status_code == 200 and b"Each pattern is a tool name" in refused.content
    assert ApiToken.objects.filter(project=project).count() == 1
    page = root_client.get(reverse("admin:projects_apitoken_change", args=[ApiToken.objects.get().pk]))
    assert b"github__*" in page.content


def test_reloading_the_issued_page_shows_no_token_and_issues_none(root_client, project):
    posted = root_client.post(issue_url(project), {"name": "once", "scopes": ["proxy"], "duration": "1d"})
    first = root_client.get(posted["Location"])
    assert PLAINTEXT.search(first.content.decode())
    reloaded = root_client.get(posted["Location"])
    assert reloaded.status_code == 200
    assert not PLAINTEXT.search(reloaded.content.decode())
    assert "Token already shown" in reloaded.content.decode()
    assert ApiToken.objects.filter(project=project).count() == 1


def test_another_session_cannot_see_the_plaintext(root_client, project, admin_user):
    from django.test import Client

    posted = root_client.post(issue_url(project), {"name": "mine", "scopes": ["proxy"], "duration": "1d"})
    other = Client()
    other.force_login(admin_user)
    assert not PLAINTEXT.search(other.get(posted["Location"]).content.decode())
    assert PLAINTEXT.search(root_client.get(posted["Location"]).content.decode())


@pytest.mark.parametrize(
    ("project_type", "scope"),
    [("ai_gateway", "ai"), ("ai_wrapper", "ai"), ("api_gateway", "proxy"), ("mcp_gateway", "mcp")],
)
def test_scopes_preselected_for_the_project_type(root_client, make_project, project_type, scope):
    project = make_project(f"Typed {project_type}", project_type=project_type)
    form = root_client.get(issue_url(project)).context["form"]
    assert form["scopes"].value() == [scope]


def test_a_missing_scope_error_is_under_the_scopes_field(root_client, project):
    body = root_client.post(issue_url(project), {"name": "x", "duration": "7d"}).content.decode()
    scopes_input, error = body.index('name="scopes"'), body.index("errorlist")
    name_input = body.index('name="name"')
    duration_label = body.index('for="id_duration"')
    # The error sits after the scope checkboxes and before the next field's label, not under Name.
    assert name_input < scopes_input < error < duration_label
