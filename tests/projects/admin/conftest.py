"""Fixtures for the admin console tests: logged-in clients for a superuser and for staff by role."""

from __future__ import annotations

import pytest
from django.test import Client


@pytest.fixture
def root_client(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.fixture
def staff_client(make_user):
    """A logged-in staff (non-superuser) client holding `role` in `project`."""

    def make(project, role: str, username: str | None = None) -> Client:
        user = make_user(username or f"{role}-user", project, role)
        user.is_staff = True
        user.save(update_fields=["is_staff"])
        client = Client()
        client.force_login(user)
        client.user = user
        return client

    return make
