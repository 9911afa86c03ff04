"""Who may call what on the management API, in terms of the project roles of projects/roles.py.

Contract
--------
1. Every endpoint needs an authenticated caller: a session, or an OAuth2 bearer token. A
   client-credentials token acts as the user owning its application, with that user's roles.
2. Each view maps its DRF actions to a project action (`project_actions`, keys of
   projects.roles.REQUIRED_ROLE); an action it does not list needs "view". So: viewer reads;
   developer also issues and revokes tokens and reads request logs; admin also edits the project,
   activates/deactivates it and manages members; owner also deletes. Superusers can do everything.
3. A project the caller cannot see answers 404, never 403, so its existence does not leak: project
   querysets go through projects_visible_to, and nested resources resolve their project through
   `visible_project` before anything else is checked.
4. A project the caller can see, but with too small a role for the action, answers 403.
5. Creating a project needs only authentication; the caller becomes its owner.
6. Only owners and superusers may grant, change or take away the owner role (`ensure_can_assign`).
7. Audit logs: superusers see all rows; others the rows of projects they are members of. Request
   logs: the projects where the caller is developer or above (`project_uuids_for`).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.permissions import BasePermission

from projects.models import ROLE_RANK, Membership, Project, Role
from projects.roles import REQUIRED_ROLE, can, projects_visible_to, role_of


def required_action(view: Any) -> str:
    return getattr(view, "project_actions", {}).get(getattr(view, "action", None), "view")


def visible_project(user: Any, raw_uuid: str) -> Project:
    """The project with this uuid if the caller may see it; 404 alike for unknown, hidden or malformed."""
    try:
        value = uuid.UUID(str(raw_uuid))
    except ValueError as exc:
        raise NotFound("Project not found") from exc
    project = projects_visible_to(user).filter(uuid=value).first()
    if project is None:
        raise NotFound("Project not found")
    return project


def project_uuids_for(user: Any, action: str) -> QuerySet[Membership, uuid.UUID] | None:
    """Uuids of the projects where the caller may do `action`; None means every project (superuser)."""
    if user.is_superuser:
        return None
    rank = ROLE_RANK[REQUIRED_ROLE[action]]
    roles = [role for role, role_rank in ROLE_RANK.items() if role_rank >= rank]
    return Membership.objects.filter(user=user, role__in=roles).values_list("project__uuid", flat=True)


def ensure_can_assign(user: Any, project: Project, *roles: str) -> None:
    """Refuse (403) when a non-owner grants, changes or removes the owner role."""
    if Role.OWNER in roles and role_of(user, project) != Role.OWNER:
        raise PermissionDenied("Only owners can grant, change or remove the owner role")


class ProjectRolePermission(BasePermission):
    """Authenticated callers; the project's role decides (see the module contract)."""

    message = "Your role in this project does not allow this"

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        if user is None or not user.is_authenticated:
            return False
        get_project = getattr(view, "get_project", None)
        if get_project is None:
            return True
        # Nested resource: an unseen project raises 404 here, before any role check.
        return self._allowed(user, get_project(), view)

    def has_object_permission(self, request: Any, view: Any, obj: Any) -> bool:
        if isinstance(obj, Project):
            return self._allowed(request.user, obj, view)
        return True

    def _allowed(self, user: Any, project: Project, view: Any) -> bool:
        return can(user, project, required_action(view))


class SuperuserOnly(BasePermission):
    """Global resources (credentials, templates, provider settings, global guardrails and webhooks)
    belong to superusers alone."""

    message = "Only superusers manage global provider resources"

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_superuser)
