"""The admin bases: every app's admin of project rows is a ProjectScopedAdmin or a ReadOnlyAdmin."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse

from gateways.ai.models import ModelAlias
from projects.admin_roles import ProjectScopedAdmin, ReadOnlyAdmin
from projects.models import Membership, Project

pytestmark = pytest.mark.django_db


def test_every_admin_of_project_rows_uses_one_of_the_two_bases():
    stray = []
    for model, model_admin in admin.site._registry.items():
        owned = any(
            getattr(f, "related_model", None) is Project
            for f in model._meta.get_fields()
            if f.name == "project"
        )
        if owned and not isinstance(model_admin, ProjectScopedAdmin | ReadOnlyAdmin):
            stray.append(model.__name__)
    assert stray == []


def test_project_field_offers_the_types_and_projects_the_user_may_change(staff_client, make_project):
    mine_ai = make_project("Mine AI", project_type="ai_gateway")
    mine_api = make_project("Mine API", project_type="api_gateway")
    make_project("Someone else's AI", project_type="ai_gateway")
    client = staff_client(mine_ai, "admin")
    Membership.objects.create(user=client.user, project=mine_api, role="admin")
    page = client.get(reverse("admin:ai_modelalias_add"))
    assert page.status_code == 200
    offered = {p.name for p in page.context["adminform"].form.fields["project"].queryset}
    assert offered == {"Mine AI"}


def test_a_project_of_another_type_is_refused_under_the_project_field(root_client, make_project):
    api = make_project("Plain API", project_type="api_gateway")
    response = root_client.post(
        reverse("admin:ai_modelalias_add"),
        {"project": api.pk, "alias": "fast", "target": "openai:gpt-4o-mini"},
    )
    assert response.status_code == 200
    # Not offered (the choices are narrowed), so refused as a choice, under the field; nothing saved.
    assert "project" in response.context["adminform"].form.errors
    assert not ModelAlias.objects.exists()
