"""Admin console: credentials for superusers only (key write-only), aliases and assignments by project role."""

import pytest
from django.test import Client

from credentials.models import Credential
from gateways.ai.models import ModelAlias
from projects.models import Role

pytestmark = pytest.mark.django_db

KEY = "sk-" + "A" * 44 + "wxyz"


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_superuser_adds_a_credential_and_never_sees_the_key(admin_user):
    client = login(admin_user)
    form = {"provider": "openai", "name": "main", "api_key": KEY, "base_url": "", "options": "{}"}
    assert client.post("/admin/credentials/credential/add/", form).status_code == 302
    credential = Credential.objects.get()
    assert credential.api_key == KEY
    listing = client.get("/admin/credentials/credential/").content.decode()
    assert "sk-…wxyz" in listing and KEY not in listing
    change = client.get(f"/admin/credentials/credential/{credential.pk}/change/").content.decode()
    assert KEY not in change
    # Saved again without a key: the key stays.
    assert (
        client.post(
            f"/admin/credentials/credential/{credential.pk}/change/", {**form, "api_key": ""}
        ).status_code
        == 302
    )
    assert Credential.objects.get().api_key == KEY
    refused = client.post("/admin/credentials/credential/add/", {**form, "name": "bad", "api_key": "nope"})
    assert refused.status_code == 200 and "Invalid API key format" in refused.content.decode()


def test_project_admins_manage_aliases_but_not_credentials(make_user, make_project):
    project = make_project("AI admin", project_type="ai_gateway")
    other = make_project("Elsewhere", project_type="ai_gateway")
    ModelAlias.objects.create(project=other, alias="secret-alias", target="openai:gpt-4o")
    boss = make_user("boss", project, Role.ADMIN)
    boss.is_staff = True
    boss.save()
    client = login(boss)
    assert client.get("/admin/credentials/credential/").status_code == 403
    form = {"project": project.pk, "alias": "fast", "target": "openai:gpt-4o-mini"}
    assert client.post("/admin/ai/modelalias/add/", form).status_code == 302
    bad = client.post("/admin/ai/modelalias/add/", {**form, "alias": "slow", "target": "nowhere"})
    assert bad.status_code == 200 and not ModelAlias.objects.filter(alias="slow").exists()
    listing = client.get("/admin/ai/modelalias/").content.decode()
    assert "fast" in listing and "secret-alias" not in listing
    viewer = make_user("viewer", project, Role.VIEWER)
    viewer.is_staff = True
    viewer.save()
    assert login(viewer).post("/admin/ai/modelalias/add/", {**form, "alias": "v"}).status_code == 403
