"""PostgreSQL only: the request log as a table partitioned by day (native declarative partitioning).

`audit_requestlog` is `PARTITION BY RANGE (time)` with one partition per UTC day
(`audit_requestlog_pYYYYMMDD`, holding [day, day + 1)) and a default partition that catches a row
whose day has no partition yet (a clock far off, or upkeep that has not run). Retention drops whole
partitions: no DELETE, no dead tuples, no VACUUM storm (retention.py). Upkeep makes partitions ahead
(PROMPTGATE_LOG_PARTITIONS_AHEAD days); making one moves the default partition's rows of that day
into it in the same transaction, as PostgreSQL requires.

The primary key is (id, time): a key of a partitioned table must hold the partition key. Django only
sees `id`, filled from a sequence (an identity column cannot be partitioned before PostgreSQL 17).
Every index Django declares on the model exists on the parent, so each partition gets it.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

from django.conf import settings
from django.db.backends.base.base import BaseDatabaseWrapper

TABLE = "audit_requestlog"
DEFAULT = f"{TABLE}_default"
SEQUENCE = f"{TABLE}_id_seq"
# Making or dropping a partition locks the parent exclusively for a moment. Queued behind a long query
# (an export, a search), that lock would hold up every writer and reader queued after it: give up
# instead, and the next pass tries again (maintenance.py retries a failed step).
LOCK_TIMEOUT = "SET LOCAL lock_timeout = '2s'"
_NAME = re.compile(rf"^{TABLE}_p(\d{{8}})$")


def partition_name(day: datetime.date) -> str:
    return f"{TABLE}_p{day:%Y%m%d}"


def _bound(day: datetime.date) -> str:
    return f"'{day.isoformat()} 00:00:00+00'"  # a date we formatted: safe in DDL, which takes no parameters


def enabled(connection: BaseDatabaseWrapper) -> bool:
    """True when the request log is a partitioned table (PostgreSQL after migration 0006)."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [TABLE])
        row = cursor.fetchone()
    return row is not None and row[0] == "p"


def daily_partitions(cursor: Any) -> list[tuple[str, datetime.date]]:
    """(name, day) of every daily partition, oldest first (the default partition is not one)."""
    cursor.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = to_regclass(%s)",
        [TABLE],
    )
    out = []
    for (name,) in cursor.fetchall():
        match = _NAME.match(name)
        if match:
            out.append((name, datetime.datetime.strptime(match.group(1), "%Y%m%d").date()))
    return sorted(out, key=lambda item: item[1])


def create(cursor: Any, day: datetime.date) -> str:
    """Make `day`'s partition, moving the default partition's rows of that day into it (one transaction:
    the caller's)."""
    name = partition_name(day)
    lo, hi = _bound(day), _bound(day + datetime.timedelta(days=1))
    cursor.execute(LOCK_TIMEOUT)
    cursor.execute(f"CREATE TEMP TABLE _moved (LIKE {TABLE}) ON COMMIT DROP")
    cursor.execute(
        f"WITH moved AS (DELETE FROM {DEFAULT} WHERE time >= {lo} AND time < {hi} RETURNING *) "  # noqa: S608
        "INSERT INTO _moved SELECT * FROM moved"
    )
    cursor.execute(f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {TABLE} FOR VALUES FROM ({lo}) TO ({hi})")
    cursor.execute(f"INSERT INTO {TABLE} SELECT * FROM _moved")  # noqa: S608
    cursor.execute("DROP TABLE _moved")
    return name


def drop(cursor: Any, name: str) -> None:
    if not _NAME.match(name):
        raise ValueError(f"not a daily partition of {TABLE}: {name}")
    cursor.execute(LOCK_TIMEOUT)
    cursor.execute(f"DROP TABLE IF EXISTS {name}")


# --- the migration -------------------------------------------------------------------------------
def _index_definitions(cursor: Any, table: str) -> list[str]:
    cursor.execute(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = %s "
        "AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE contype = 'p')",
        [table],
    )
    return [row[0] for row in cursor.fetchall()]


def _rebuild(cursor: Any, *, partitioned: bool) -> None:
    """Copy the request log into a new table, partitioned by day or plain, keeping its indexes' names."""
    old = f"{TABLE}_previous"
    indexes = _index_definitions(cursor, TABLE)
    cursor.execute(
        "SELECT conname FROM pg_constraint WHERE conrelid = to_regclass(%s) AND contype = 'p'", [TABLE]
    )
    (primary_key,) = cursor.fetchone()
    for definition in indexes:
        cursor.execute(f"DROP INDEX {definition.split(' ON ')[0].split()[-1]}")
    cursor.execute(f"ALTER TABLE {TABLE} RENAME CONSTRAINT {primary_key} TO {old}_pkey")
    cursor.execute(f"ALTER TABLE {TABLE} RENAME TO {old}")
    cursor.execute(f"ALTER TABLE {old} ALTER COLUMN id DROP IDENTITY IF EXISTS")
    cursor.execute(f"ALTER TABLE {old} ALTER COLUMN id DROP DEFAULT")
    cursor.execute(f"ALTER SEQUENCE IF EXISTS {SEQUENCE} RENAME TO {old}_id_seq")
    layout = " PARTITION BY RANGE (time)" if partitioned else ""
    cursor.execute(f"CREATE TABLE {TABLE} (LIKE {old} INCLUDING DEFAULTS){layout}")
    cursor.execute(f"CREATE SEQUENCE {SEQUENCE} OWNED BY {TABLE}.id")
    cursor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN id SET DEFAULT nextval('{SEQUENCE}')")
    cursor.execute(f"ALTER TABLE {TABLE} ADD PRIMARY KEY ({'id, time' if partitioned else 'id'})")
    if partitioned:
        cursor.execute(f"CREATE TABLE {DEFAULT} PARTITION OF {TABLE} DEFAULT")
        # Daily partitions for the retained days that have rows, and the days ahead; older rows land in
        # the default partition, which retention empties in bounded deletes.
        today = datetime.datetime.now(datetime.UTC).date()
        first = today - datetime.timedelta(days=settings.PROMPTGATE_LOG_RETENTION_DAYS)
        cursor.execute(f"SELECT min(time) FROM {old} WHERE time >= {_bound(first)}")  # noqa: S608
        (oldest,) = cursor.fetchone()
        day = oldest.astimezone(datetime.UTC).date() if oldest else today
        while day <= today + datetime.timedelta(days=settings.PROMPTGATE_LOG_PARTITIONS_AHEAD):
            lo, hi = _bound(day), _bound(day + datetime.timedelta(days=1))
            cursor.execute(
                f"CREATE TABLE {partition_name(day)} PARTITION OF {TABLE} FOR VALUES FROM ({lo}) TO ({hi})"
            )
            day += datetime.timedelta(days=1)
    cursor.execute(f"INSERT INTO {TABLE} SELECT * FROM {old}")  # noqa: S608
    cursor.execute(f"SELECT setval('{SEQUENCE}', coalesce(max(id), 0) + 1, false) FROM {TABLE}")  # noqa: S608
    cursor.execute(f"DROP TABLE {old}")
    for definition in indexes:
        cursor.execute(definition)


def partition_request_log(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql" and not enabled(schema_editor.connection):
        with schema_editor.connection.cursor() as cursor:
            _rebuild(cursor, partitioned=True)


def unpartition_request_log(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql" and enabled(schema_editor.connection):
        with schema_editor.connection.cursor() as cursor:
            _rebuild(cursor, partitioned=False)
