"""The chat playground page: ai_gateway projects only, developers and above; it names the public route."""

from __future__ import annotations

import pytest
from django.urls import reverse

from projects.models import Role

pytestmark = pytest.mark.django_db


def chat_url(project) -> str:
    return reverse("admin:ai_chat_playground", args=[project.pk])


def test_page_of_an_ai_gateway_project_posts_to_its_public_route(root_client, make_project):
    project = make_project("Chatty", project_type="ai_gateway")
    page = root_client.get(chat_url(project))
    assert page.status_code == 200
    assert f'data-chat-url="/api/{project.uuid}/v1/chat/completions"' in page.content.decode()


def test_other_project_types_have_no_chat_playground(root_client, make_project):
    wrapper = make_project("Wrapped", project_type="ai_wrapper")
    assert root_client.get(chat_url(wrapper)).status_code == 404


@pytest.mark.parametrize(("role", "status"), [(Role.VIEWER, 403), (Role.DEVELOPER, 200)])
def test_developers_and_above_open_it(staff_client, make_project, role, status):
    project = make_project("Team chat", project_type="ai_gateway")
    assert staff_client(project, role).get(chat_url(project)).status_code == status


def test_the_project_overview_links_to_it(root_client, make_project):
    chatty = make_project("Linked chat", project_type="ai_gateway")
    wrapper = make_project("No chat", project_type="ai_wrapper")
    page = root_client.get(reverse("admin:console_project_overview", args=[chatty.uuid])).content.decode()
    assert chat_url(chatty) in page
    page = root_client.get(reverse("admin:console_project_overview", args=[wrapper.uuid])).content.decode()
    assert chat_url(wrapper) not in page
