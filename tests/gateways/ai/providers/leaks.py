"""Secret producer for tests/hardening/test_no_secret_leaks.py: provider API keys through every write path."""

from __future__ import annotations

from typing import Any

from django.test import Client, override_settings


def provider_credential_keys(env: Any) -> list[str]:
    """Keys created, rotated and refused on the management API, tested, and saved through the admin."""
    first = "sk-proj-" + "LeakFirst" * 5 + "k1"
    second = "sk-" + "LeakSecond" * 5 + "k2"
    refused = "sk-refused LeakRefusedKey"  # a space: not a valid format
    through_admin = "sk-" + "LeakAdmin" * 5 + "k3"
    client = Client()
    client.force_login(env.admin)
    body = {"provider": "openai", "name": "leak", "api_key": first, "base_url": "http://127.0.0.1:9/v1"}
    with override_settings(PROMPTGATE_SSRF_ALLOW=["127.0.0.0/8"]):  # admitted at save, since withdrawn
        created = client.post("/manage/api/v1/credentials/", body, content_type="application/json")
    assert created.status_code == 201, created.content
    url = f"/manage/api/v1/credentials/{created.json()['id']}/"
    assert client.patch(url, {"api_key": second}, content_type="application/json").status_code == 200
    assert client.patch(url, {"api_key": refused}, content_type="application/json").status_code == 400
    tested = client.post(f"{url}test/", content_type="application/json")
    assert tested.status_code == 200, tested.content  # refused by the SSRF guard: logged, not leaked
    assert client.get(url).status_code == 200
    form = {
        "provider": "openai",
        "name": "leak-admin",
        "api_key": through_admin,
        "base_url": "",
        "options": "{}",
    }
    assert client.post("/admin/credentials/credential/add/", form).status_code == 302
    assert client.get("/admin/credentials/credential/").status_code == 200
    return [first, second, refused, through_admin]
