"""Management API, per project: provider assignments and model aliases (AI projects, admins write)."""

import pytest

from credentials.models import Credential, ProviderTemplate
from projects.models import Role
from tests.mock_llm import KEYS
from tests.projects.api.conftest import projects_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def ai_project(make_project):
    return make_project("AI routing", project_type="ai_gateway")


@pytest.fixture
def creds(db):
    return {
        "openai": Credential.objects.create(provider="openai", name="oa", api_key=KEYS["openai"]),
        "anthropic": Credential.objects.create(provider="anthropic", name="an", api_key=KEYS["anthropic"]),
    }


def test_assignments_crud_and_provider_match(root_client, ai_project, creds):
    url = projects_url(ai_project, "provider-assignments/")
    response = root_client.post(url, {"provider": "openai", "credential": creds["openai"].pk}, format="json")
    assert response.status_code == 201, response.content
    assert response.json() == {**response.json(), "provider": "openai", "credential_name": "oa"}
    mismatch = root_client.post(
        url, {"provider": "anthropic", "credential": creds["openai"].pk}, format="json"
    )
    assert mismatch.status_code == 400
    assert mismatch.json()["error"]["code"] == "credential_provider_mismatch"
    twice = root_client.post(url, {"provider": "openai", "credential": creds["openai"].pk}, format="json")
    assert twice.status_code == 400 and "provider" in twice.json()["error"]["fields"]
    item = f"{url}{response.json()['id']}/"
    assert root_client.patch(item, {"credential": creds["anthropic"].pk}, format="json").status_code == 400
    rotated = Credential.objects.create(provider="openai", name="oa-2", api_key=KEYS["openai"])
    assert (
        root_client.patch(item, {"credential": rotated.pk}, format="json").json()["credential_name"] == "oa-2"
    )
    assert root_client.get(url).json()["results"][0]["credential"] == rotated.pk
    assert root_client.delete(item).status_code == 204


def test_aliases(root_client, ai_project):
    ProviderTemplate.objects.create(name="house-model", provider="anthropic", model="claude-haiku")
    url = projects_url(ai_project, "aliases/")
    for target in ("openai:gpt-4o-mini", "ollama:llama3:8b", "house-model", "openai:gpt-4o, house-model"):
        response = root_client.post(url, {"alias": f"a-{len(target)}", "target": target}, format="json")
        assert response.status_code == 201, response.content
    for alias, target in (
        ("b", "nowhere"),
        ("c", "skynet:model"),
        ("openai:x", "openai:gpt-4o"),
        ("bad alias", "openai:x"),
    ):
        assert root_client.post(url, {"alias": alias, "target": target}, format="json").status_code == 400
    taken = root_client.post(url, {"alias": "a-18", "target": "openai:gpt-4o"}, format="json")
    assert taken.status_code == 400 and "alias" in taken.json()["error"]["fields"]
    assert [a["alias"] for a in root_client.get(url).json()["results"]] == ["a-11", "a-16", "a-18", "a-26"]


@pytest.mark.parametrize("project_type", ["api_gateway", "mcp_gateway"])
def test_wrong_project_type(root_client, make_project, creds, project_type):
    project = make_project(f"Not AI {project_type}", project_type=project_type)
    response = root_client.post(
        projects_url(project, "aliases/"), {"alias": "fast", "target": "openai:gpt-4o"}, format="json"
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "wrong_project_type"
    body = {"provider": "openai", "credential": creds["openai"].pk}
    response = root_client.post(projects_url(project, "provider-assignments/"), body, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "wrong_project_type"


def test_ai_wrapper_is_an_ai_project(root_client, make_project):
    project = make_project("Wrapper", project_type="ai_wrapper")
    response = root_client.post(
        projects_url(project, "aliases/"), {"alias": "fast", "target": "openai:gpt-4o"}, format="json"
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("role", "can_write"),
    [(Role.VIEWER, False), (Role.DEVELOPER, False), (Role.ADMIN, True), (Role.OWNER, True)],
)
def test_roles(client_for, make_user, ai_project, creds, role, can_write):
    client = client_for(make_user(f"user-{role}", ai_project, role))
    url = projects_url(ai_project, "aliases/")
    assert client.get(url).status_code == 200
    expected = 201 if can_write else 403
    assert (
        client.post(url, {"alias": "fast", "target": "openai:gpt-4o"}, format="json").status_code == expected
    )
    body = {"provider": "openai", "credential": creds["openai"].pk}
    assert (
        client.post(projects_url(ai_project, "provider-assignments/"), body, format="json").status_code
        == expected
    )


def test_hidden_projects_answer_404(client_for, make_user, make_project, ai_project):
    stranger = client_for(
        make_user("stranger", make_project("Other AI", project_type="ai_gateway"), Role.OWNER)
    )
    assert stranger.get(projects_url(ai_project, "aliases/")).status_code == 404
    assert stranger.get(projects_url(ai_project, "provider-assignments/")).status_code == 404
