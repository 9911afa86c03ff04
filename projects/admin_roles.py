"""Role checks for the admin console (memberships read once per request) and the admin bases every app's
admin builds on: `ProjectScopedAdmin`, `ReadOnlyAdmin`, `SuperuserAdmin`."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from projects.models import ROLE_RANK, Membership, Project, Role
from projects.roles import REQUIRED_ROLE

# The request attribute the roles are cached under (HttpRequest declares none for it).
_ROLES_ATTR = "_promptgate_roles"


def roles_by_project(request: HttpRequest) -> dict[int, Role]:
    """project id -> the requesting user's role there; cached on the request (admin pages ask often)."""
    cached: dict[int, Role] | None = getattr(request, _ROLES_ATTR, None)
    if cached is None:
        user = request.user
        if not user.is_authenticated:
            return {}
        rows = Membership.objects.filter(user=user).values_list("project_id", "role")
        cached = {project_id: Role(role) for project_id, role in rows}
        setattr(request, _ROLES_ATTR, cached)
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


def check_project_type(form: Any, project_types: tuple[str, ...], what: str) -> None:
    """Refuse, under the project field, a project whose type may not hold `what` (e.g. "Model aliases")."""
    project = form.cleaned_data.get("project")
    if project is not None and project.project_type not in project_types:
        form.add_error("project", f"{what} belong to {' and '.join(project_types)} projects.")


def secret_help(form: Any, field: str, keep_hint: str) -> None:
    """A write-only secret's help says a blank field keeps the current one on change pages only: a new
    row has no current secret to keep."""
    if form.instance.pk is not None and field in form.fields:
        form.fields[field].help_text = f"{form.fields[field].help_text} {keep_hint}"


class SuperuserAdmin(admin.ModelAdmin):
    """Global resources (credentials, provider settings, retention): seen and changed by superusers only."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.has_module_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)


class ProjectScopedAdmin(admin.ModelAdmin):
    """The one base for rows a project owns (`obj.project`), every app's admin: permissions by role.

    Members with `view_action` on the project see its rows; `change_action` (by default
    manage_endpoints) decides who adds, changes and deletes them, and which projects the project
    field offers (narrowed to `project_types` when set). Superusers see and change everything.
    """

    view_action = "view"
    change_action = "manage_endpoints"
    project_types: tuple[str, ...] = ()

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        rows = super().get_queryset(request).select_related("project")
        if request.user.is_superuser:
            return rows
        return rows.filter(project_id__in=project_ids_where(request, self.view_action))

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "project" and "queryset" not in kwargs:
            kwargs["queryset"] = self.project_choices(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def project_choices(self, request: HttpRequest) -> QuerySet[Project]:
        """The projects a new row may belong to: the right type, and the user may change rows there."""
        projects = Project.objects.all()
        if self.project_types:
            projects = projects.filter(project_type__in=self.project_types)
        if not request.user.is_superuser:
            projects = projects.filter(pk__in=project_ids_where(request, self.change_action))
        return projects

    def has_module_permission(self, request: HttpRequest) -> bool:
        return can(request, None, self.view_action)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return can(request, obj.project if obj else None, self.view_action)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return can(request, None, self.change_action)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return can(request, obj.project if obj else None, self.change_action)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return can(request, obj.project if obj else None, self.change_action)


class ReadOnlyAdmin(admin.ModelAdmin):
    """The one base for what the system writes (logs, sessions, usage): nobody adds or changes it here.

    Users with `view_action` (by default read_logs) on a project read its rows; `project_of` says
    which project a row belongs to (override it when the row does not hold `project`).
    """

    view_action = "read_logs"

    def project_of(self, obj: Any) -> Project | None:
        return obj.project

    def may_read(self, request: HttpRequest, obj: Any) -> bool:
        return can(request, self.project_of(obj), self.view_action)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return can(request, None, self.view_action)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is None or request.user.is_superuser:
            return can(request, None, self.view_action)
        return self.may_read(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
