"""Shared fixtures: users, projects, tokens. Each test area adds its own conftest beside its tests."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from audit import context
from projects import services
from projects.models import Membership, Project, Role
from tests.mock_llm import MockLLM


def _always_set_up_default_database() -> None:
    """pytest-django creates the test database only for the aliases its collected tests mark (django_db,
    `db`, ...). Tests against gateway processes use committed rows through `django_db_setup` and carry
    no mark, so a run of only such files would talk to the real database named in DATABASE_URL. The
    default alias is always set up here instead (pytest-django has no setting for this)."""
    from pytest_django import fixtures

    for_items = fixtures._get_databases_for_setup

    def with_default(items: Any) -> tuple[set[str], set[str]]:
        aliases, serialized = for_items(items)
        return {*aliases, "default"}, serialized

    fixtures._get_databases_for_setup = with_default


_always_set_up_default_database()


def _flush_past_the_audit_triggers() -> None:
    """Transactional tests end with a database flush (TRUNCATE, or DELETE on SQLite), which the audit
    trail's append-only triggers refuse: the flush turns them off and on around itself (audit/append_only.py)."""
    from django.core.management.commands import flush

    from audit.append_only import suspended_for_flush

    plain = flush.sql_flush

    def sql_flush(style: Any, connection: Any, *args: Any, **kwargs: Any) -> list[str]:
        return suspended_for_flush(connection.vendor, plain(style, connection, *args, **kwargs))

    flush.sql_flush = sql_flush


_flush_past_the_audit_triggers()


def _retry_a_flush_that_deadlocks() -> None:
    """A transactional test's closing TRUNCATE can meet a gateway subprocess's batched writer still
    inserting the last request logs: PostgreSQL then breaks the lock cycle by failing one of the two,
    and when that is the TRUNCATE the whole test errors at teardown. The flush is retried instead (the
    writer's transaction has committed or rolled back by then)."""
    from django.db import OperationalError
    from django.db.backends.postgresql.operations import DatabaseOperations

    plain = DatabaseOperations.execute_sql_flush

    def execute_sql_flush(self: Any, sql_list: list[str]) -> None:
        for attempt in range(5):
            try:
                return plain(self, sql_list)
            except OperationalError as exc:
                if "deadlock detected" not in str(exc) or attempt == 4:
                    raise
                time.sleep(0.1 * (attempt + 1))

    DatabaseOperations.execute_sql_flush = execute_sql_flush


_retry_a_flush_that_deadlocks()


@pytest.fixture(scope="session", autouse=True)
def _static_root() -> None:
    # WhiteNoise warns (an error under our warning filters) when STATIC_ROOT does not exist yet, as on
    # a fresh clone before collectstatic; the test Client builds the middleware chain and would trip it.
    from pathlib import Path

    from django.conf import settings

    Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashing() -> Iterator[None]:
    """Production password hashing costs ~0.3 s a user (and a client secret): tests need no such cost."""
    from django.test import override_settings

    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(scope="session", autouse=True)
def _redis_namespace() -> Iterator[None]:
    """Each test run works under its own Redis key prefix and leaves nothing behind."""
    from django.conf import settings

    if not settings.REDIS_URL:
        yield
        return
    from gateways.common import redis_clients

    settings.PROMPTGATE_REDIS_PREFIX = f"pgtest{os.getpid()}"
    yield
    client = redis_clients.sync_client()
    for key in client.scan_iter(match=f"{settings.PROMPTGATE_REDIS_PREFIX}:*"):
        client.delete(key)


@pytest.fixture(scope="session", autouse=True)
def _close_db_pools(django_db_setup, django_db_blocker) -> Iterator[None]:
    """PostgreSQL pools keep idle connections: close them before the test database is dropped."""
    yield
    from django.db import connections

    with django_db_blocker.unblock():
        for conn in connections.all():
            close_pool = getattr(conn, "close_pool", None)
            if close_pool is not None and getattr(conn, "pool", None) is not None:
                close_pool()
        conn = connections["default"]
        if conn.vendor == "postgresql":
            # A connection left in some worker thread (or a gateway subprocess that is still
            # shutting down) would make dropping the test database fail the whole run.
            with conn.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            conn.close()


@pytest.fixture
def admin_user(db):
    return get_user_model().objects.create_superuser("root", "root@example.com", "root-pass-123")


@pytest.fixture
def make_user(db):
    def make(username: str, project: Project | None = None, role: str = Role.VIEWER):
        user = get_user_model().objects.create_user(username, f"{username}@example.com", "pass-word-123")
        if project is not None:
            Membership.objects.create(user=user, project=project, role=role)
        return user

    return make


@pytest.fixture
def make_project(db):
    def make(name: str = "Demo project", project_type: str = "api_gateway", **kwargs):
        with context.bind(actor=context.SYSTEM):
            return services.create_project(name=name, project_type=project_type, **kwargs)

    return make


@pytest.fixture
def project(make_project):
    return make_project()


@pytest.fixture
def make_token(db):
    def make(project: Project, scopes: list[str] | None = None, **kwargs):
        return services.issue_token(
            project, name=kwargs.pop("name", "test"), scopes=scopes or ["admin"], **kwargs
        )

    return make


@pytest.fixture(scope="session")
def mock_llm() -> Iterator[MockLLM]:
    """The one mock LLM of the test run (tests/mock_llm.py): every provider's wire format on one port."""
    with MockLLM() as mock:
        yield mock


@pytest.fixture(autouse=True)
def _mock_llm_reset(request: pytest.FixtureRequest) -> None:
    """Each test that uses the mock LLM starts with no requests, no script and the default behaviour."""
    if "mock_llm" in request.fixturenames:
        request.getfixturevalue("mock_llm").reset()
