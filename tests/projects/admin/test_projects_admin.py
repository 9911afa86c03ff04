"""Project admin: changelist search and filters, writes through services, actions, delete, history."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditLog
from projects.models import ApiToken, Membership, Project, Role

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:projects_project_changelist"


def change_url(project: Project) -> str:
    return reverse("admin:projects_project_change", args=[project.pk])


def action_url(project: Project, action: str) -> str:
    return reverse("admin:projects_project_action", args=[project.pk, action])


def user_rows(action: str, username: str = "root", **filters) -> list[AuditLog]:
    return list(AuditLog.objects.filter(action=action, actor_type="user", actor_label=username, **filters))


def test_changelist_search_and_filters(root_client, make_project):
    alpha = make_project("Alpha gateway", project_type="ai_gateway", env="prod")
    beta = make_project("Beta proxy", project_type="api_gateway", env="dev")
    make_project("Gamma tools", project_type="mcp_gateway", env="staging", is_active=False)
    url = reverse(CHANGELIST)

    def names(query: dict) -> set[str]:
        response = root_client.get(url, query)
        assert response.status_code == 200
        return {p.name for p in response.context["cl"].result_list}

    assert names({}) == {"Alpha gateway", "Beta proxy", "Gamma tools"}
    assert names({"q": "alpha"}) == {"Alpha gateway"}
    assert names({"q": beta.slug}) == {"Beta proxy"}
    assert names({"q": str(alpha.uuid)}) == {"Alpha gateway"}
    assert names({"q": str(alpha.uuid)[:8]}) == {"Alpha gateway"}
    assert names({"project_type__exact": "mcp_gateway"}) == {"Gamma tools"}
    assert names({"env__exact": "prod"}) == {"Alpha gateway"}
    assert names({"is_active__exact": "0"}) == {"Gamma tools"}


def test_changelist_counts_live_tokens_without_n_plus_one(
    root_client, make_project, make_token, django_assert_max_num_queries
):
    projects = [make_project(f"Project {i}") for i in range(6)]
    make_token(projects[0])
    make_token(projects[0])
    revoked, _ = make_token(projects[0])
    revoked.revoked_at = revoked.created_at
    revoked.save(update_fields=["revoked_at"])
    make_token(projects[1])
    response = root_client.get(reverse(CHANGELIST))
    counts = {p.name: p.active_tokens for p in response.context["cl"].result_list}
    assert counts["Project 0"] == 2
    assert counts["Project 1"] == 1
    assert counts["Project 2"] == 0
    with django_assert_max_num_queries(12):
        root_client.get(reverse(CHANGELIST))


def test_add_goes_through_service_and_makes_creator_owner(root_client, admin_user):
    response = root_client.post(
        reverse("admin:projects_project_add"),
        {
            "name": "Shop assistant",
            "project_type": "ai_wrapper",
            "env": "prod",
            "description": "",
            "metadata": "{}",
        },
    )
    assert response.status_code == 302, response.content
    project = Project.objects.get(name="Shop assistant")
    assert project.slug == "shop-assistant"
    assert response["Location"] == change_url(project)
    assert Membership.objects.get(project=project).user == admin_user
    assert user_rows("create", object_type="projects.project", project_uuid=project.uuid)


def test_add_rejects_bad_input_with_field_errors(root_client):
    response = root_client.post(
        reverse("admin:projects_project_add"),
        {"name": "ab", "project_type": "nope", "env": "prod", "metadata": "[1, 2]"},
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert {"name", "project_type", "metadata"} <= set(errors)
    assert not Project.objects.exists()


def test_change_updates_and_keeps_type_immutable(root_client, project):
    page = root_client.get(change_url(project))
    assert page.status_code == 200
    form = page.context["adminform"].form
    assert "project_type" not in form.fields  # read-only after creation
    assert str(project.uuid) in page.content.decode()
    response = root_client.post(
        change_url(project),
        {
            "name": "Renamed project",
            "project_type": "mcp_gateway",
            "env": "staging",
            "description": "new",
            "metadata": '{"team": "core"}',
            "is_active": "on",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    project.refresh_from_db()
    assert (project.name, project.env, project.project_type) == ("Renamed project", "staging", "api_gateway")
    assert project.metadata == {"team": "core"}
    (row,) = user_rows("update", object_type="projects.project")
    assert row.after["name"] == "Renamed project"


def test_unticking_active_in_the_form_is_a_deactivate_event(root_client, project):
    response = root_client.post(
        change_url(project),
        {
            "name": project.name,
            "env": project.env,
            "description": "",
            "metadata": "{}",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302
    project.refresh_from_db()
    assert not project.is_active
    assert user_rows("deactivate", project_uuid=project.uuid)
    assert not user_rows("update", object_type="projects.project")


@pytest.mark.parametrize("via", ["changelist", "button"])
def test_activate_deactivate_revoke_all_write_audit_rows_as_the_user(
    root_client, make_project, make_token, via
):
    one, two = make_project("First one"), make_project("Second one")
    for p in (one, two):
        make_token(p)
        make_token(p)

    def run(action: str, button: str) -> None:
        if via == "changelist":
            data = {"action": action, "_selected_action": [one.pk, two.pk]}
            if action == "deactivate_projects":
                # Asked first: the confirmation page changes nothing; its "yes" posts confirmed=yes.
                asked = root_client.post(reverse(CHANGELIST), data)
                assert asked.status_code == 200 and b'name="confirmed" value="yes"' in asked.content
                assert Project.objects.filter(is_active=True).count() == 2
                data["confirmed"] = "yes"
            response = root_client.post(reverse(CHANGELIST), data)
            assert response.status_code == 302
        else:
            for p in (one, two):
                assert root_client.post(action_url(p, button)).status_code == 302

    run("deactivate_projects", "deactivate")
    assert not Project.objects.filter(is_active=True).exists()
    assert len(user_rows("deactivate")) == 2
    run("activate_projects", "activate")
    assert Project.objects.filter(is_active=True).count() == 2
    assert len(user_rows("activate")) == 2
    run("revoke_all_tokens", "revoke-all-tokens")
    assert not ApiToken.objects.filter(revoked_at__isnull=True).exists()
    rows = user_rows("tokens_bulk_revoke")
    assert len(rows) == 2  # one event per project, carrying its count
    assert {r.project_uuid for r in rows} == {one.uuid, two.uuid}
    assert all(r.extra == {"revoked": 2} for r in rows)


def test_project_action_urls_need_post(root_client, project):
    assert root_client.get(action_url(project, "deactivate")).status_code == 405
    assert root_client.post(action_url(project, "explode")).status_code == 404
    project.refresh_from_db()
    assert project.is_active


def test_change_page_lists_tokens_without_digest(root_client, project, make_token):
    token, plaintext = make_token(project, name="ci-bot", scopes=["ai", "proxy"])
    body = root_client.get(change_url(project)).content.decode()
    assert token.prefix in body and "ci-bot" in body and "ai, proxy" in body and "active" in body
    assert token.digest not in body
    assert plaintext not in body


def test_revoke_single_token_from_project_page(root_client, project, make_token):
    token, _ = make_token(project)
    keep, _ = make_token(project)
    url = reverse("admin:projects_project_revoke_token", args=[project.pk, token.pk])
    assert root_client.get(url).status_code == 405
    assert root_client.post(url).status_code == 302
    token.refresh_from_db()
    keep.refresh_from_db()
    assert token.revoked_at is not None and keep.revoked_at is None
    assert user_rows("token_revoke", object_id=str(token.pk))


def test_delete_requires_typing_the_slug(root_client, project):
    url = reverse("admin:projects_project_delete", args=[project.pk])
    page = root_client.get(url)
    assert page.status_code == 200 and project.slug in page.content.decode()
    for typed in (None, "", "wrong-slug"):
        data = {"post": "yes"} if typed is None else {"post": "yes", "confirm": typed}
        response = root_client.post(url, data)
        assert response.status_code == 200
        assert "Type the project" in response.content.decode()
        assert Project.objects.filter(pk=project.pk).exists()
    response = root_client.post(url, {"post": "yes", "confirm": project.slug})
    assert response.status_code == 302
    assert not Project.objects.filter(pk=project.pk).exists()
    assert user_rows("delete", object_type="projects.project", project_uuid=project.uuid)


def test_bulk_delete_action_is_removed(root_client, project):
    response = root_client.get(reverse(CHANGELIST))
    assert "delete_selected" not in dict(response.context["action_form"].fields["action"].choices)
    response = root_client.post(
        reverse(CHANGELIST), {"action": "delete_selected", "_selected_action": [project.pk], "post": "yes"}
    )
    assert Project.objects.filter(pk=project.pk).exists()


def test_history_shows_the_projects_audit_rows(root_client, project, make_token, make_project):
    other = make_project("Someone else")
    make_token(project, name="history-token")
    root_client.post(action_url(project, "deactivate"))
    response = root_client.get(reverse("admin:projects_project_history", args=[project.pk]))
    assert response.status_code == 200
    rows = list(response.context["page"].object_list)
    assert {r.action for r in rows} >= {"create", "token_issue", "deactivate"}
    assert all(r.project_uuid == project.uuid for r in rows)
    assert other.name not in response.content.decode()


def test_member_inline_adds_members(root_client, project, make_user):
    newcomer = make_user("newcomer")
    response = root_client.post(
        change_url(project),
        {
            "name": project.name,
            "env": project.env,
            "description": "",
            "metadata": "{}",
            "is_active": "on",
            "memberships-TOTAL_FORMS": "1",
            "memberships-INITIAL_FORMS": "0",
            "memberships-0-user": newcomer.pk,
            "memberships-0-role": Role.DEVELOPER,
        },
    )
    assert response.status_code == 302
    assert Membership.objects.get(project=project, user=newcomer).role == Role.DEVELOPER
    assert user_rows("create", object_type="projects.membership", project_uuid=project.uuid)


def test_token_admin_link_filters_by_project(root_client, project, make_project, make_token):
    other = make_project("Other")
    make_token(project, name="mine")
    make_token(other, name="theirs")
    page = root_client.get(change_url(project))
    assert "Audit history" in page.content.decode()
    response = root_client.get(page.context["all_tokens_url"])
    assert response.status_code == 200
    assert [t.name for t in response.context["cl"].result_list] == ["mine"]


def test_history_summarises_changes(root_client, project):
    root_client.post(
        change_url(project),
        {
            "name": "Summarised",
            "env": project.env,
            "description": "",
            "metadata": "{}",
            "is_active": "on",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    body = root_client.get(reverse("admin:projects_project_history", args=[project.pk])).content.decode()
    assert "name: Demo project → Summarised" in body
    assert "fields set" in body


def test_add_over_quota_shows_error_and_writes_nothing(root_client, project, settings):
    settings.PROMPTGATE_MAX_PROJECTS = 1
    response = root_client.post(
        reverse("admin:projects_project_add"),
        {"name": "One too many", "project_type": "ai_wrapper", "env": "dev", "metadata": "{}"},
        follow=True,
    )
    assert response.status_code == 200
    assert "Project limit reached" in response.content.decode()
    assert list(Project.objects.values_list("name", flat=True)) == [project.name]
