"""Fixtures of the project-wide tests (settings, OpenAPI schema, access log): the management API clients."""

from tests.projects.api.conftest import client_for, root_client  # noqa: F401  (shared fixtures)
