"""Issue 17, point 2: the audit trail cannot be changed or wiped below the application, on either database."""

import pytest
from django.db import DatabaseError, connection, transaction

from audit import context
from audit.models import AuditLog
from projects import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def row(admin_user):
    with context.bind(actor=context.SYSTEM):
        services.create_project(name="Audited project", project_type="api_gateway")
    return AuditLog.objects.filter(project_name="Audited project").first()


def refused(sql: str, params: list | None = None) -> bool:
    """True when the database refuses the statement (inside a savepoint, so the test goes on)."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params or [])
    except DatabaseError as exc:
        assert "append-only" in str(exc)
        return True
    return False


def test_raw_update_and_delete_are_refused(row):
    assert refused("UPDATE audit_auditlog SET action = 'forged' WHERE id = %s", [row.pk])
    assert refused("DELETE FROM audit_auditlog WHERE id = %s", [row.pk])
    assert refused("DELETE FROM audit_auditlog")
    assert AuditLog.objects.get(pk=row.pk).action == row.action


def test_truncate_is_refused_on_postgresql(row):
    if connection.vendor != "postgresql":
        assert refused("DELETE FROM audit_auditlog")  # SQLite's only way to empty a table
    else:
        assert refused("TRUNCATE audit_auditlog")
        assert refused("TRUNCATE audit_auditlog CASCADE")
    assert AuditLog.objects.filter(pk=row.pk).exists()


def test_queryset_raw_delete_is_refused(row):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditLog.objects.filter(pk=row.pk)._raw_delete(connection.alias)
    assert AuditLog.objects.filter(pk=row.pk).exists()


def test_deleting_a_project_keeps_its_audit_rows(row):
    from projects.models import Project

    project = Project.objects.get(name="Audited project")
    before = AuditLog.objects.filter(project_uuid=project.uuid).count()
    with context.bind(actor=context.SYSTEM):
        services.delete_project(project, confirm=project.slug)
    rows = AuditLog.objects.filter(project_uuid=project.uuid)
    assert rows.count() == before + 1
    assert rows.filter(action="delete").exists()
