"""Two real gateway processes: a token revoked anywhere is refused by every process within a second."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from projects import services
from tests.servers import GatewayProcess, running_gateways

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def two_gateways(django_db_setup) -> Iterator[list[GatewayProcess]]:
    # The production poll interval, not the fast one the other process tests use.
    with running_gateways(2, PROMPTGATE_CONFIG_POLL_SECONDS="0.5") as processes:
        yield processes


def test_revocation_reaches_every_process_within_one_second(two_gateways, project, make_token):
    _, plaintext = make_token(project)
    headers = {"Authorization": f"Bearer {plaintext}"}
    path = f"/api/{project.uuid}/info"
    for gateway in two_gateways:  # both processes now hold the token in their caches
        assert httpx.get(gateway.url(path), headers=headers).status_code == 200

    services.revoke_all_tokens(project)  # this process: the admin, the API or manage.py
    revoked_at = time.monotonic()
    refused_after: dict[int, float] = {}
    while len(refused_after) < len(two_gateways) and time.monotonic() - revoked_at < 3:
        for index, gateway in enumerate(two_gateways):
            if index not in refused_after:
                response = httpx.get(gateway.url(path), headers=headers)
                if response.status_code == 401:
                    assert response.json()["error"]["code"] == "token_revoked"
                    refused_after[index] = time.monotonic() - revoked_at
        time.sleep(0.05)
    assert len(refused_after) == 2, f"still accepted by a process: {refused_after}"
    assert max(refused_after.values()) < 1.0, refused_after
