"""Audit events beyond plain CRUD: lifecycle actions, auth events, masking, append-only, survival."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client

from audit import context
from audit.models import AppendOnlyError, AuditLog
from audit.snapshots import MASK
from projects import services
from projects.models import ApiToken


def user_actor(user) -> context.Actor:
    return context.actor_for_user(user)


def last(action: str, **filters) -> AuditLog:
    row = AuditLog.objects.filter(action=action, **filters).order_by("-id").first()
    assert row is not None, f"no {action!r} audit row"
    return row


pytestmark = pytest.mark.django_db


def test_activate_and_deactivate_record_the_acting_user(project, admin_user):
    with context.bind(actor=user_actor(admin_user), ip="192.0.2.7", request_id="req-12345678"):
        services.set_active(project, False)
    row = last("deactivate", object_id=str(project.pk))
    assert (row.actor_type, row.actor_id, row.actor_label) == ("user", str(admin_user.pk), "root")
    assert row.object_type == "projects.project"
    assert row.project_uuid == project.uuid and row.project_name == project.name
    assert row.before == {"is_active": True} and row.after == {"is_active": False}
    assert (row.ip, row.request_id) == ("192.0.2.7", "req-12345678")

    with context.bind(actor=context.SYSTEM):
        services.set_active(project, True)
    row = last("activate", object_id=str(project.pk))
    assert row.actor_type == "system"


def test_token_issue_and_revoke(project, admin_user):
    with context.bind(actor=user_actor(admin_user)):
        token, plaintext = services.issue_token(project, name="ci", scopes=["ai"], created_by=admin_user)
    issued = last("token_issue", object_id=str(token.pk))
    assert issued.object_type == "projects.apitoken"
    assert issued.actor_type == "user" and issued.actor_id == str(admin_user.pk)
    assert issued.project_uuid == project.uuid
    # The digest is a secret field: masked in the snapshot, and the plaintext appears nowhere.
    assert issued.after["digest"] == MASK
    assert issued.after["prefix"] == token.prefix
    assert plaintext not in str(issued.after)

    with context.bind(actor=context.SYSTEM):
        services.revoke_token(token)
    revoked = last("token_revoke", object_id=str(token.pk))
    assert revoked.actor_type == "system"
    assert set(revoked.after) == {"revoked_at"}
    assert revoked.before == {"revoked_at": None}


def test_bulk_revoke_is_one_event_with_its_count(project, make_token, admin_user):
    for name in ("a", "b", "c"):
        make_token(project, name=name)
    services.revoke_token(ApiToken.objects.get(name="c"))
    before = AuditLog.objects.count()
    with context.bind(actor=user_actor(admin_user)):
        count = services.revoke_all_tokens(project)
    assert count == 2
    assert AuditLog.objects.count() == before + 1
    row = last("tokens_bulk_revoke")
    assert row.extra == {"revoked": 2}
    assert row.object_type == "projects.project" and row.object_id == str(project.pk)
    assert row.actor_type == "user"


def test_update_records_before_and_after_of_changed_fields_only(project, admin_user):
    with context.bind(actor=user_actor(admin_user)):
        services.update_project(project, {"description": "new words"})
    row = last("update", object_type="projects.project", object_id=str(project.pk))
    assert row.before == {"description": ""}
    assert row.after == {"description": "new words"}


def admin_login(client: Client, password: str = "root-pass-123"):
    return client.post("/admin/login/", {"username": "root", "password": password, "next": "/admin/"})


def test_login_records_the_user(admin_user):
    assert admin_login(Client()).status_code == 302
    login = last("login")
    assert (login.actor_type, login.actor_id) == ("user", str(admin_user.pk))
    assert login.object_type == "auth.user" and login.object_id == str(admin_user.pk)
    assert login.request_id  # bound by the middleware
    assert login.ip == "127.0.0.1"


def test_logout_records_the_user(admin_user):
    client = Client(raise_request_exception=True)
    assert admin_login(client).status_code == 302
    response = client.post("/admin/logout/")
    assert response.status_code == 200  # the logged-out page
    logout = last("logout")
    assert (logout.actor_type, logout.actor_id) == ("user", str(admin_user.pk))
    assert logout.object_type == "auth.user"


def test_failed_login_records_the_username_only(admin_user):
    response = admin_login(Client(), password="wrong-password")
    assert response.status_code == 200
    failed = last("login_failed")
    assert failed.actor_type == "anonymous"
    assert failed.object_type == "auth.user"
    assert failed.extra == {"username": "root"}
    assert "wrong-password" not in str(failed.extra) + str(failed.before) + str(failed.after)


def test_audit_rows_cannot_be_changed_through_the_orm(project):
    row = AuditLog.objects.filter(object_type="projects.project").first()
    row.action = "tampered"
    with pytest.raises(AppendOnlyError):
        row.save()
    with pytest.raises(AppendOnlyError):
        row.delete()
    with pytest.raises(AppendOnlyError):
        AuditLog.objects.filter(pk=row.pk).update(action="tampered")
    with pytest.raises(AppendOnlyError):
        AuditLog.objects.filter(pk=row.pk).delete()
    assert AuditLog.objects.get(pk=row.pk).action == "create"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the append-only trigger is PostgreSQL's")
def test_postgresql_trigger_refuses_raw_update_and_delete(project):
    row = AuditLog.objects.filter(object_type="projects.project").first()
    table = connection.ops.quote_name(AuditLog._meta.db_table)
    for sql in (
        f"UPDATE {table} SET action = 'tampered' WHERE id = %s",
        f"DELETE FROM {table} WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, [row.pk])
    assert AuditLog.objects.get(pk=row.pk).action == "create"


def test_project_audit_trail_survives_its_deletion(project, make_token, make_user):
    token, _ = make_token(project)
    make_user("member", project=project)
    uuid, name = project.uuid, project.name
    trail_before = set(AuditLog.objects.filter(project_uuid=uuid).values_list("id", flat=True))
    assert len(trail_before) >= 3  # project create, token issue, membership create

    with context.bind(actor=context.SYSTEM):
        services.delete_project(project, confirm=project.slug)

    trail = AuditLog.objects.filter(project_uuid=uuid)
    assert trail_before <= set(trail.values_list("id", flat=True))
    deleted = trail.get(action="delete", object_type="projects.project")
    assert deleted.project_name == name
    # Cascaded rows are recorded too (the token and the membership went with the project).
    assert trail.filter(action="delete", object_type="projects.apitoken", object_id=str(token.pk)).exists()
    assert trail.filter(action="delete", object_type="projects.membership").exists()
