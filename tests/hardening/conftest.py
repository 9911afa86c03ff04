"""Fixtures of the hardening tests (issue 17): shared with tests/projects/api, tests/gateways/http and
tests/credentials (the encrypted-field probe model)."""

from tests.credentials.conftest import probe_model  # noqa: F401  (shared fixture)
from tests.gateways.http.conftest import api, gateway_process, upstream_server  # noqa: F401
from tests.projects.api.conftest import client_for, root_client  # noqa: F401  (shared fixtures)
