"""Append-only below the application everywhere: TRUNCATE refused on PostgreSQL, UPDATE/DELETE on SQLite."""

from django.db import migrations

from audit import append_only


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(append_only.PG_DROP_TRUNCATE_TRIGGER)
        schema_editor.execute(append_only.PG_TRUNCATE_TRIGGER)
    elif vendor == "sqlite":
        for statement in append_only.SQLITE_TRIGGERS:
            schema_editor.execute(statement)


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(append_only.PG_DROP_TRUNCATE_TRIGGER)
    elif vendor == "sqlite":
        for statement in append_only.SQLITE_DROP_TRIGGERS:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_requestlog_drop_single_uuid_index")]
    operations = [migrations.RunPython(forwards, backwards)]
