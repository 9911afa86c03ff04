"""Fixtures of the guardrail tests: the management API clients (shared with tests/api)."""

from tests.api.conftest import client_for, root_client  # noqa: F401  (shared fixtures)
