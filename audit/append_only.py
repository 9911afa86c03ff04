"""The database's own refusal to change audit rows: triggers on PostgreSQL and SQLite.

PostgreSQL: a row trigger refuses UPDATE and DELETE (migration 0002) and a statement trigger refuses
TRUNCATE (0004). SQLite: triggers refuse UPDATE and DELETE (0004; SQLite has no TRUNCATE, its
`DELETE FROM` without WHERE fires the DELETE trigger too). So neither a raw statement nor
`QuerySet._raw_delete` can wipe the trail from below the application.

`suspended_for_flush` wraps a statement list (a test database flush) in turning the triggers off and
on again, inside the flush's transaction: only the database's owner can do that, never the ORM.
"""

from __future__ import annotations

PG_TRUNCATE_TRIGGER = """
CREATE TRIGGER audit_auditlog_no_truncate BEFORE TRUNCATE ON audit_auditlog
    FOR EACH STATEMENT EXECUTE FUNCTION audit_auditlog_append_only();
"""
PG_DROP_TRUNCATE_TRIGGER = "DROP TRIGGER IF EXISTS audit_auditlog_no_truncate ON audit_auditlog;"

SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER IF NOT EXISTS audit_auditlog_no_{op.lower()} BEFORE {op} ON audit_auditlog
    BEGIN SELECT RAISE(ABORT, 'audit_auditlog is append-only: {op} refused'); END;"""
    for op in ("UPDATE", "DELETE")
]
SQLITE_DROP_TRIGGERS = [f"DROP TRIGGER IF EXISTS audit_auditlog_no_{op};" for op in ("update", "delete")]


def suspended_for_flush(vendor: str, statements: list[str]) -> list[str]:
    """`statements` with the audit triggers off around them (PostgreSQL, SQLite); others unchanged."""
    if not any("audit_auditlog" in statement for statement in statements):
        return statements
    if vendor == "postgresql":
        return [
            "ALTER TABLE audit_auditlog DISABLE TRIGGER USER;",
            *statements,
            "ALTER TABLE audit_auditlog ENABLE TRIGGER USER;",
        ]
    if vendor == "sqlite":
        return [*SQLITE_DROP_TRIGGERS, *statements, *SQLITE_TRIGGERS]
    return statements
