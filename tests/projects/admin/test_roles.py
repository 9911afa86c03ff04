"""Roles in the admin: viewer reads, developer also handles tokens and logs, admin edits, owner deletes."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from audit.models import AuditLog
from projects.models import ApiToken, Membership, Project, Role

pytestmark = pytest.mark.django_db


def urls(project: Project) -> dict[str, str]:
    pk = project.pk
    return {
        "change": reverse("admin:projects_project_change", args=[pk]),
        "delete": reverse("admin:projects_project_delete", args=[pk]),
        "history": reverse("admin:projects_project_history", args=[pk]),
        "issue": reverse("admin:projects_project_issue_token", args=[pk]),
        "deactivate": reverse("admin:projects_project_action", args=[pk, "deactivate"]),
        "revoke_all": reverse("admin:projects_project_action", args=[pk, "revoke-all-tokens"]),
    }


def edit_data(project: Project, **overrides) -> dict:
    data = {
        "name": project.name,
        "env": project.env,
        "description": "",
        "metadata": "{}",
        "is_active": "on",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
    }
    data.update(overrides)
    return data


def test_non_member_staff_sees_nothing(staff_client, make_project, make_user):
    mine, theirs = make_project("Mine"), make_project("Theirs")
    client = staff_client(mine, Role.VIEWER)
    listing = client.get(reverse("admin:projects_project_changelist"))
    assert [p.name for p in listing.context["cl"].result_list] == ["Mine"]
    # Change sends an object outside the user's projects back to the index, delete is refused first (a
    # viewer may delete nothing), history and the issue-token page answer 404.
    for name, status in (("change", 302), ("delete", 403), ("history", 404), ("issue", 404)):
        assert client.get(urls(theirs)[name]).status_code == status, name
    assert client.post(urls(theirs)["deactivate"]).status_code == 404
    theirs.refresh_from_db()
    assert theirs.is_active


def test_staff_without_membership_has_no_projects_module(make_user):
    user = make_user("lonely")
    user.is_staff = True
    user.save()
    client = Client()
    client.force_login(user)
    assert client.get(reverse("admin:projects_project_changelist")).status_code == 403
    assert client.get(reverse("admin:audit_auditlog_changelist")).status_code == 403


def test_viewer_reads_only(staff_client, project, make_token):
    token, _ = make_token(project)
    client = staff_client(project, Role.VIEWER)
    u = urls(project)
    page = client.get(u["change"])
    assert page.status_code == 200
    body = page.content.decode()
    assert token.prefix in body
    assert "Issue token" not in body and "Revoke all tokens" not in body and 'name="_save"' not in body
    assert client.post(u["change"], edit_data(project, name="Hijacked")).status_code == 403
    assert client.get(u["issue"]).status_code == 403
    assert client.post(u["deactivate"]).status_code == 403
    assert client.post(u["revoke_all"]).status_code == 403
    assert client.get(u["history"]).status_code == 403
    assert client.post(u["delete"], {"post": "yes", "confirm": project.slug}).status_code == 403
    listing = client.get(reverse("admin:projects_project_changelist"))
    assert listing.context["action_form"] is None or not listing.context["cl"].show_admin_actions
    project.refresh_from_db()
    assert project.name != "Hijacked" and project.is_active
    assert ApiToken.objects.filter(revoked_at__isnull=True).count() == 1


def test_developer_issues_and_revokes_tokens_but_cannot_edit(staff_client, project, make_token):
    client = staff_client(project, Role.DEVELOPER)
    u = urls(project)
    response = client.post(u["issue"], {"name": "dev", "scopes": ["ai"], "duration": "1d"}, follow=True)
    assert response.status_code == 200 and "pg_test_" in response.content.decode()
    assert AuditLog.objects.filter(action="token_issue", actor_label="developer-user").exists()
    assert client.get(u["history"]).status_code == 200
    assert client.post(u["revoke_all"]).status_code == 302
    assert AuditLog.objects.filter(action="tokens_bulk_revoke", actor_label="developer-user").exists()
    assert client.post(u["change"], edit_data(project, name="Dev rename")).status_code == 403
    assert client.post(u["deactivate"]).status_code == 403
    bulk = client.post(
        reverse("admin:projects_project_changelist"),
        {"action": "deactivate_projects", "_selected_action": [project.pk]},
    )
    assert bulk.status_code == 302
    project.refresh_from_db()
    assert project.is_active and project.name != "Dev rename"
    assert client.post(u["delete"], {"post": "yes", "confirm": project.slug}).status_code == 403


def test_admin_edits_project_and_members_but_cannot_delete(staff_client, project, make_user):
    client = staff_client(project, Role.ADMIN)
    u = urls(project)
    assert client.post(u["change"], edit_data(project, name="Admin rename")).status_code == 302
    assert client.post(u["deactivate"]).status_code == 302
    project.refresh_from_db()
    assert project.name == "Admin rename" and not project.is_active
    assert AuditLog.objects.filter(action="deactivate", actor_label="admin-user").exists()

    dev = make_user("new-dev")
    add_member = edit_data(
        project,
        **{
            "memberships-TOTAL_FORMS": "2",
            "memberships-INITIAL_FORMS": "1",
            "memberships-0-id": Membership.objects.get(project=project).pk,
            "memberships-0-user": Membership.objects.get(project=project).user_id,
            "memberships-0-role": Role.ADMIN,
            "memberships-1-user": dev.pk,
            "memberships-1-role": Role.DEVELOPER,
        },
    )
    assert client.post(u["change"], add_member).status_code == 302
    assert Membership.objects.get(project=project, user=dev).role == Role.DEVELOPER

    # Granting the owner role is for owners only.
    add_member["memberships-TOTAL_FORMS"] = "1"
    add_member["memberships-0-role"] = Role.OWNER
    response = client.post(u["change"], add_member)
    assert response.status_code == 200
    assert "Only an owner" in response.content.decode()
    assert not Membership.objects.filter(project=project, role=Role.OWNER).exists()

    assert client.get(u["delete"]).status_code == 403
    assert client.post(u["delete"], {"post": "yes", "confirm": project.slug}).status_code == 403
    assert Project.objects.filter(pk=project.pk).exists()


def test_owner_deletes_with_slug(staff_client, project, make_token):
    make_token(project)
    client = staff_client(project, Role.OWNER)
    u = urls(project)
    page = client.get(u["delete"])
    assert page.status_code == 200 and not page.context["perms_lacking"]
    assert client.post(u["delete"], {"post": "yes", "confirm": "nope"}).status_code == 200
    assert Project.objects.filter(pk=project.pk).exists()
    assert client.post(u["delete"], {"post": "yes", "confirm": project.slug}).status_code == 302
    assert not Project.objects.filter(pk=project.pk).exists()
    assert AuditLog.objects.filter(
        action="delete", object_type="projects.project", actor_label="owner-user"
    ).exists()


def test_staff_cannot_add_projects_without_permission(staff_client, project):
    client = staff_client(project, Role.OWNER)
    assert client.get(reverse("admin:projects_project_add")).status_code == 403
