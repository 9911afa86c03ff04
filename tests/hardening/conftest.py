"""Fixtures of the hardening tests (issue 17): shared with tests/api and tests/http."""

from tests.api.conftest import client_for, root_client  # noqa: F401  (shared fixtures)
from tests.http.conftest import api, gateway_process, upstream_server  # noqa: F401
