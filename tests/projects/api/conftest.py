"""Fixtures of the management API tests: logged-in API clients and URL helpers."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

BASE = "/manage/api/v1"


def projects_url(project=None, tail: str = "") -> str:
    if project is None:
        return f"{BASE}/projects/"
    return f"{BASE}/projects/{project.uuid}/{tail}"


@pytest.fixture
def client_for(db):
    """An API client with a session for `user` (None: anonymous)."""

    def make(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_login(user)
        return client

    return make


@pytest.fixture
def root_client(client_for, admin_user) -> APIClient:
    return client_for(admin_user)
