"""Who may do what in a project: roles rank viewer < developer < admin < owner; superusers are all."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from projects.models import ROLE_RANK, Membership, Project, Role

# The least role each action needs.
REQUIRED_ROLE: dict[str, Role] = {
    "view": Role.VIEWER,
    "issue_tokens": Role.DEVELOPER,
    "revoke_tokens": Role.DEVELOPER,
    "read_logs": Role.DEVELOPER,
    "edit": Role.ADMIN,
    "manage_endpoints": Role.ADMIN,
    "manage_members": Role.ADMIN,
    "delete": Role.OWNER,
}


def role_of(user: Any, project: Project) -> Role | None:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    if user.is_superuser:
        return Role.OWNER
    role = Membership.objects.filter(user=user, project=project).values_list("role", flat=True).first()
    return Role(role) if role else None


def can(user: Any, project: Project, action: str) -> bool:
    role = role_of(user, project)
    return role is not None and ROLE_RANK[role] >= ROLE_RANK[REQUIRED_ROLE[action]]


def projects_visible_to(user: Any) -> QuerySet[Project]:
    if user is None or not getattr(user, "is_authenticated", False):
        return Project.objects.none()
    if user.is_superuser:
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user).distinct()
