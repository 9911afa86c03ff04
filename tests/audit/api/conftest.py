"""Fixtures of the audit and request-log management API tests (shared with tests/projects/api)."""

from tests.projects.api.conftest import client_for, projects_url, root_client  # noqa: F401  (shared fixtures)
