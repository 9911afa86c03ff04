"""Fixtures for the audit tests: the encrypted-field probe model (backups must not hold plaintext) and the
admin console's logged-in clients (the log admins); tests/audit/api uses the management API clients."""

from tests.credentials.conftest import probe_model  # noqa: F401  (shared fixture)
from tests.projects.admin.conftest import root_client, staff_client  # noqa: F401  (shared fixtures)
