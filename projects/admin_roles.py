"""Role checks for the admin console, with each user's memberships read once per request."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.http import HttpRequest

from projects.models import ROLE_RANK, Membership, Project, Role
from projects.roles import REQUIRED_ROLE


def roles_by_project(request: HttpRequest) -> dict[int, Role]:
    """project id -> the requesting user's role there; cached on the request (admin pages ask often)."""
    cached = getattr(request, "_promptgate_roles", None)
    if cached is None:
        user = request.user
        if not user.is_authenticated:
            return {}
        rows = (
            Membership.objects.filter(user=user).values_list("project_id", "role")
            if user.is_authenticated
            else []
        )
        cached = {project_id: Role(role) for project_id, role in rows}
        request._promptgate_roles = cached
    return cached


def _enough(role: Role | None, action: str) -> bool:
    return role is not None and ROLE_RANK[role] >= ROLE_RANK[REQUIRED_ROLE[action]]


def can(request: HttpRequest, project: Project | None, action: str) -> bool:
    """May the user do `action` on `project`; with no project, on at least one of their projects."""
    user = request.user
    if not (user.is_active and user.is_staff):
        return False
    if user.is_superuser:
        return True
    roles = roles_by_project(request)
    if project is None:
        return any(_enough(role, action) for role in roles.values())
    return _enough(roles.get(project.pk), action)


def project_ids_where(request: HttpRequest, action: str) -> list[int]:
    return [pk for pk, role in roles_by_project(request).items() if _enough(role, action)]


def project_uuids_where(request: HttpRequest, action: str) -> list[UUID]:
    ids = project_ids_where(request, action)
    return list(Project.objects.filter(pk__in=ids).values_list("uuid", flat=True))


def is_owner_role(value: Any) -> bool:
    return value == Role.OWNER


class ProjectScopedAdminMixin:
    """ModelAdmin permissions for objects owned by a project (`obj.project`), decided by role.

    Viewers of the project see its objects; `edit_action` (by default manage_endpoints) decides
    who adds, changes and deletes them. Superusers see everything.
    """

    edit_action = "manage_endpoints"

    def get_queryset(self, request: HttpRequest) -> Any:
        qs = super().get_queryset(request)  # type: ignore[misc]
        if not request.user.is_superuser:
            qs = qs.filter(project_id__in=project_ids_where(request, "view"))
        return qs

    def has_module_permission(self, request: HttpRequest) -> bool:
        return can(request, None, "view")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return can(request, obj.project if obj else None, "view")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return can(request, None, self.edit_action)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return can(request, obj.project if obj else None, self.edit_action)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return can(request, obj.project if obj else None, self.edit_action)
