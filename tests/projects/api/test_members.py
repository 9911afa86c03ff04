"""Management API, members: list/add/change/remove, admin needed, owner role guarded."""

import pytest

from audit.models import AuditLog
from projects.models import Membership, Role
from tests.projects.api.conftest import projects_url

pytestmark = pytest.mark.django_db


def members_url(project, tail: str = "") -> str:
    return projects_url(project, f"members/{tail}")


def test_admin_adds_changes_and_removes_a_member(client_for, make_user, project):
    admin = client_for(make_user("boss", project, Role.ADMIN))
    make_user("carol")
    response = admin.post(members_url(project), {"user": "carol", "role": "developer"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"id", "user", "role"} and body["user"] == "carol"
    listed = admin.get(members_url(project)).json()["results"]
    assert {m["user"]: m["role"] for m in listed} == {"boss": "admin", "carol": "developer"}
    response = admin.patch(members_url(project, f"{body['id']}/"), {"role": "viewer"}, format="json")
    assert response.status_code == 200 and response.json() == {**body, "role": "viewer"}
    assert admin.delete(members_url(project, f"{body['id']}/")).status_code == 204
    assert not Membership.objects.filter(user__username="carol").exists()
    actions = AuditLog.objects.filter(object_type="projects.membership", actor_label="boss")
    assert sorted(actions.values_list("action", flat=True)) == ["create", "delete", "update"]


@pytest.mark.parametrize(("role", "status"), [(Role.VIEWER, 403), (Role.DEVELOPER, 403)])
def test_below_admin_reads_but_cannot_manage(client_for, make_user, project, role, status):
    client = client_for(make_user("member", project, role))
    make_user("carol")
    assert client.get(members_url(project)).status_code == 200
    response = client.post(members_url(project), {"user": "carol", "role": "viewer"}, format="json")
    assert response.status_code == status


def test_only_owners_grant_or_touch_the_owner_role(client_for, make_user, project):
    owner_user = make_user("olga", project, Role.OWNER)
    admin = client_for(make_user("boss", project, Role.ADMIN))
    make_user("carol")
    response = admin.post(members_url(project), {"user": "carol", "role": "owner"}, format="json")
    assert response.status_code == 403
    owner_membership = Membership.objects.get(user=owner_user)
    assert (
        admin.patch(
            members_url(project, f"{owner_membership.pk}/"), {"role": "viewer"}, format="json"
        ).status_code
        == 403
    )
    assert admin.delete(members_url(project, f"{owner_membership.pk}/")).status_code == 403
    owner = client_for(owner_user)
    assert (
        owner.post(members_url(project), {"user": "carol", "role": "owner"}, format="json").status_code == 201
    )


def test_the_last_owner_stays(client_for, make_user, project):
    owner_user = make_user("olga", project, Role.OWNER)
    owner = client_for(owner_user)
    membership = Membership.objects.get(user=owner_user)
    response = owner.patch(members_url(project, f"{membership.pk}/"), {"role": "admin"}, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "last_owner"
    assert owner.delete(members_url(project, f"{membership.pk}/")).status_code == 409


def test_bad_member_input(root_client, make_user, project):
    make_user("carol", project, Role.VIEWER)
    cases = [
        ({"user": "nobody", "role": "viewer"}, "user"),
        ({"user": "carol", "role": "viewer"}, "user"),
        ({"user": "carol", "role": "emperor"}, "role"),
        ({"user": ["carol"], "role": "viewer"}, "user"),
        ({"user": "carol", "role": "viewer", "project": "x"}, "project"),
    ]
    for body, field in cases:
        response = root_client.post(members_url(project), body, format="json")
        assert response.status_code == 400, body
        assert field in response.json()["error"]["fields"], body


def test_the_user_of_a_membership_is_fixed(root_client, make_user, project):
    make_user("dave")
    membership = Membership.objects.get(user=make_user("carol", project, Role.VIEWER))
    response = root_client.patch(members_url(project, f"{membership.pk}/"), {"user": "dave"}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "immutable_field"
    response = root_client.put(
        members_url(project, f"{membership.pk}/"), {"user": "carol", "role": "admin"}, format="json"
    )
    assert response.status_code == 200 and response.json()["role"] == "admin"


def test_unseen_project_members_are_404(client_for, make_user, make_project):
    theirs = make_project("Theirs")
    assert client_for(make_user("stranger")).get(members_url(theirs)).status_code == 404
