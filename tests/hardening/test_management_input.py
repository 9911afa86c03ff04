"""Issue 17, point 6: management API input that used to break it (500s, lost bodies, 502 later, enumeration)."""

import pytest
from django.test import override_settings
from drf_spectacular.generators import SchemaGenerator

from audit import context
from gateways.http.models import ApiEndpoint
from projects.models import Membership, Project, Role
from tests.gateways.http.conftest import body, endpoints_url
from tests.projects.api.conftest import BASE, projects_url
from webhooks import services as webhook_services

pytestmark = pytest.mark.django_db

HUGE = "99999999999999999999"


def paged_lists() -> list[str]:
    """Every list the served schema pages with limit/offset or page_size."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    paths = []
    for path, operations in schema["paths"].items():
        names = {p["name"] for p in operations.get("get", {}).get("parameters", []) if p["in"] == "query"}
        if names & {"limit", "page_size"}:
            paths.append(path)
    return paths


def test_a_huge_limit_offset_or_page_size_pages_instead_of_failing(root_client, make_project):
    project = make_project("Paged one")
    # Nested lists (a webhook's deliveries) need their parent: one project webhook, no delivery.
    with context.bind(actor=context.SYSTEM), override_settings(PROMPTGATE_SSRF_ALLOW=["127.0.0.0/8"]):
        hook, _ = webhook_services.create_webhook(project, url="http://127.0.0.1:9/hook", events=["*"])
        global_hook, _ = webhook_services.create_webhook(None, url="http://127.0.0.1:9/hook", events=["*"])
    lists = paged_lists()
    assert len(lists) >= 10
    for path in lists:
        parent = hook if "{project_uuid}" in path else global_hook
        path = path.replace("{project_uuid}", str(project.uuid)).replace("{id}", str(parent.pk))
        for query in (f"limit={HUGE}", f"offset={HUGE}", f"limit={HUGE}&offset={HUGE}", f"page_size={HUGE}"):
            response = root_client.get(f"{path}?{query}")
            assert response.status_code == 200, (path, query, response.content[:200])
            assert "results" in response.json()


def test_project_lists_cap_the_page_at_1000(root_client, make_project):
    make_project("Paged two")
    response = root_client.get(f"{BASE}/projects/?limit={HUGE}")
    assert response.json()["count"] == 1
    assert "limit=1000" not in (response.json()["next"] or "")


def test_a_post_without_the_trailing_slash_creates_the_project(root_client):
    response = root_client.post(
        f"{BASE}/projects", {"name": "No slash", "project_type": "api_gateway"}, format="json"
    )
    assert response.status_code == 201, response.content[:300]
    assert Project.objects.filter(name="No slash").exists()


def test_a_slashless_unknown_management_path_is_a_json_404(root_client):
    response = root_client.post(f"{BASE}/no-such-thing", {"a": 1}, format="json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("char", ["\x0b", "\x0c", "\x7f", "\x01", "\x1f", "\r", "\n", "\0"])
def test_control_characters_in_injected_header_values_are_refused_at_save(root_client, project, char):
    response = root_client.post(
        endpoints_url(project), body(inject_headers={"X-Key": f"abc{char}def"}), format="json"
    )
    assert response.status_code == 400, response.content[:300]
    assert response.json()["error"]["code"] == "validation_error"
    assert not ApiEndpoint.objects.exists()


def test_a_tab_and_non_ascii_stay_allowed_in_injected_header_values(root_client, project):
    response = root_client.post(
        endpoints_url(project), body(inject_headers={"X-Key": "a\tb é"}), format="json"
    )
    assert response.status_code == 201, response.content[:300]


def test_adding_an_unknown_or_inactive_user_reads_the_same(client_for, make_user, project):
    admin = client_for(make_user("boss", project, Role.ADMIN))
    sleeper = make_user("sleeper")
    sleeper.is_active = False
    sleeper.save()
    answers = []
    for username in ("nobody-at-all", "sleeper"):
        response = admin.post(
            projects_url(project, "members/"), {"user": username, "role": "viewer"}, format="json"
        )
        answers.append((response.status_code, response.json()))
    assert answers[0] == answers[1]
    assert answers[0][0] == 400
    assert not Membership.objects.filter(user=sleeper).exists()


def test_owner_grant_by_an_admin_is_refused_before_the_user_is_looked_up(client_for, make_user, project):
    admin = client_for(make_user("boss", project, Role.ADMIN))
    make_user("carol")
    answers = []
    for username in ("carol", "nobody-at-all"):
        response = admin.post(
            projects_url(project, "members/"), {"user": username, "role": "owner"}, format="json"
        )
        answers.append((response.status_code, response.json()))
    assert answers[0] == answers[1]
    assert answers[0][0] == 403
