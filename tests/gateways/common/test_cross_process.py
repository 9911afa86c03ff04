"""Two real gateway processes: a token revoked anywhere is refused by every process once it adopts
the config version the revocation published.

The product's "within a second" follows from the poll interval (0.5 s in production, the setting this
test runs with): a process adopts a new shared version at its next poll. The test checks the mechanism
(the revocation publishes a version; a process at that version refuses the token; until then nothing
else is needed) rather than timing a wall clock, which a loaded CI machine would make flaky.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from gateways.common import versioning
from projects import services
from tests.servers import GatewayProcess, running_gateways

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def two_gateways(django_db_setup) -> Iterator[list[GatewayProcess]]:
    # The production poll interval, not the fast one the other process tests use.
    with running_gateways(2, PROMPTGATE_CONFIG_POLL_SECONDS="0.5") as processes:
        yield processes


def _adopted(gateway: GatewayProcess, version: int, deadline: float) -> None:
    while gateway.config_version() < version:
        assert time.monotonic() < deadline, f"a gateway never adopted config version {version}"
        time.sleep(0.05)


def test_revocation_reaches_every_process_at_its_next_config_poll(two_gateways, project, make_token):
    _, plaintext = make_token(project)
    headers = {"Authorization": f"Bearer {plaintext}"}
    path = f"/api/{project.uuid}/info"
    for gateway in two_gateways:  # both processes now hold the token in their caches
        assert httpx.get(gateway.url(path), headers=headers).status_code == 200
    before = versioning.read_shared()

    services.revoke_all_tokens(project)  # this process: the admin, the API or manage.py
    published = versioning.read_shared()
    assert published > before  # the revocation itself publishes a new version: no other trigger

    deadline = time.monotonic() + 30  # liveness only: a hung poll loop fails, a slow machine does not
    for gateway in two_gateways:
        _adopted(gateway, published, deadline)
        response = httpx.get(gateway.url(path), headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "token_revoked"
