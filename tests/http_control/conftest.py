"""Fixtures of the API endpoint control-plane tests: URLs, a valid body, OAuth connections."""

from __future__ import annotations

import pytest

from credentials.models import OAuthConnection
from tests.api.conftest import client_for, projects_url, root_client  # noqa: F401  (shared fixtures)

# A public literal address: valid everywhere, and no DNS lookup at save time.
PUBLIC_URL = "https://93.184.216.34/v1"
SECRET = "inject-secret-Zq81LmX4"


def endpoints_url(project, tail: str = "") -> str:
    return projects_url(project, f"api-endpoints/{tail}")


def body(**overrides) -> dict:
    data = {
        "slug": "weather",
        "upstream_url": PUBLIC_URL,
        "allowed_methods": ["GET", "POST"],
        "inject_headers": {"X-Upstream-Key": SECRET},
    }
    data.update(overrides)
    return data


@pytest.fixture
def make_connection(db):
    def make(project, name: str = "github") -> OAuthConnection:
        return OAuthConnection.objects.create(
            project=project, name=name, provider="github", client_id="cid", client_secret="csecret"
        )

    return make
