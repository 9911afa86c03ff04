"""The first admin (`manage.py bootstrap_admin`): a generated one-time password must be changed at first login."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db


def bootstrap(monkeypatch, **env: str) -> str:
    for name in ("DJANGO_SUPERUSER_USERNAME", "DJANGO_SUPERUSER_PASSWORD", "DJANGO_SUPERUSER_EMAIL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    out = io.StringIO()
    call_command("bootstrap_admin", stdout=out)
    return out.getvalue()


def test_the_one_time_password_must_be_changed_before_anything_else(monkeypatch):
    printed = bootstrap(monkeypatch)
    (password,) = re.findall(r"one-time password: (\S+)", printed)
    client = Client()
    assert client.login(username="admin", password=password)
    for page in (reverse("admin:index"), reverse("admin:projects_project_changelist")):
        response = client.get(page)
        assert response.status_code == 302 and response["Location"] == reverse("admin:password_change")
    assert client.get(reverse("admin:password_change")).status_code == 200
    changed = client.post(
        reverse("admin:password_change"),
        {
            "old_password": password,
            "new_password1": "a-new-long-pass-42",
            "new_password2": "a-new-long-pass-42",
        },
    )
    assert changed.status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200
    # A new session (another browser) is not asked again either.
    other = Client()
    assert other.login(username="admin", password="a-new-long-pass-42")
    assert other.get(reverse("admin:index")).status_code == 200


def test_a_password_given_in_the_environment_is_not_forced_to_change(monkeypatch):
    bootstrap(monkeypatch, DJANGO_SUPERUSER_USERNAME="boss", DJANGO_SUPERUSER_PASSWORD="chosen-pass-123")
    client = Client()
    assert client.login(username="boss", password="chosen-pass-123")
    assert client.get(reverse("admin:index")).status_code == 200


def test_manage_py_as_the_readme_writes_it_and_without_debug(tmp_path):
    """The README's create_api_client line sets DEBUG=true (as make does); without it, manage.py says why."""
    import os
    import subprocess
    import sys

    from django.conf import settings

    readme = (settings.BASE_DIR / "README.md").read_text()
    (line,) = [row for row in readme.splitlines() if "manage.py create_api_client" in row and "--user" in row]
    assert line.startswith("DEBUG=true ")
    env = {
        k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY", "PROMPTGATE_ENCRYPTION_KEYS")
    }
    env["PROMPTGATE_VAR_DIR"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "manage.py", "create_api_client", "automation", "--user", "admin"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "SECRET_KEY is required when DEBUG is off" in done.stderr and "DEBUG=true" in done.stderr
