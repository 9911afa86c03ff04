"""Admin console for projects, members and tokens: thin views over projects/services.py, scoped by role."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict, cast

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Q, QuerySet
from django.forms.formsets import DELETION_FIELD_NAME
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html

from projects import admin_roles, admin_views, services
from projects.models import ApiToken, Membership, Project, Role
from projects.roles import projects_visible_to
from promptgate.errors import PromptGateError

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

# The request attribute delete_view leaves the typed slug under for delete_model (HttpRequest has none).
_CONFIRM_ATTR = "_promptgate_confirm"


class ActiveTokens(TypedDict):
    """The annotation ProjectAdmin.get_queryset adds to each row."""

    active_tokens: int


class MembershipFormSet(BaseInlineFormSet):
    # Set per request by MembershipInline.get_formset: only owners may grant, alter or remove ownership.
    may_manage_owners = True

    def clean(self) -> None:
        super().clean()
        if self.may_manage_owners:
            return
        for form in self.forms:
            if not hasattr(form, "cleaned_data"):
                continue
            was_owner = form.initial.get("role") == Role.OWNER
            becomes_owner = form.cleaned_data.get("role") == Role.OWNER
            deleting = self.can_delete and bool(form.cleaned_data.get(DELETION_FIELD_NAME))
            if (was_owner and (form.has_changed() or deleting)) or (becomes_owner and form.has_changed()):
                raise ValidationError("Only an owner can grant, change or remove the owner role.")


class MembershipInline(admin.TabularInline):
    model = Membership
    formset = MembershipFormSet
    fields = ("user", "role", "created_at")
    readonly_fields = ("created_at",)
    extra = 0

    def get_formset(self, request: HttpRequest, obj: Project | None = None, **kwargs: Any) -> Any:
        # Built from `formset` above, so a MembershipFormSet subclass.
        formset = cast(type[MembershipFormSet], super().get_formset(request, obj, **kwargs))
        formset.may_manage_owners = admin_roles.can(request, obj, "delete")
        return formset

    def has_view_permission(self, request: HttpRequest, obj: Project | None = None) -> bool:
        return admin_roles.can(request, obj, "view")

    def has_add_permission(self, request: HttpRequest, obj: Project | None = None) -> bool:
        return obj is not None and admin_roles.can(request, obj, "manage_members")

    def has_change_permission(self, request: HttpRequest, obj: Project | None = None) -> bool:
        return obj is not None and admin_roles.can(request, obj, "manage_members")

    def has_delete_permission(self, request: HttpRequest, obj: Project | None = None) -> bool:
        return obj is not None and admin_roles.can(request, obj, "manage_members")


class ProjectForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = (
            "name",
            "project_type",
            "env",
            "description",
            "metadata",
            "allowed_origins",
            "default_ai_provider",
            "is_active",
        )
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    form = ProjectForm
    change_form_template = "admin/projects/project/change_form.html"
    delete_confirmation_template = "admin/projects/project/delete_confirmation.html"
    list_display = (
        "name",
        "overview",
        "slug",
        "project_type",
        "env",
        "is_active",
        "active_tokens",
        "created_at",
    )
    list_filter = ("project_type", "env", "is_active")
    search_fields = ("name", "slug", "uuid")
    readonly_fields = ("uuid", "slug", "created_at", "updated_at")
    inlines = (MembershipInline,)
    actions = ("activate_projects", "deactivate_projects", "revoke_all_tokens")

    # --- queryset and columns ----------------------------------------------------------------------
    def get_queryset(self, request: HttpRequest) -> QuerySet[Project]:
        qs = super().get_queryset(request)
        if not request.user.is_superuser:
            qs = qs.filter(pk__in=projects_visible_to(request.user).values("pk"))
        live = Q(tokens__revoked_at__isnull=True) & (
            Q(tokens__expires_at__isnull=True) | Q(tokens__expires_at__gt=timezone.now())
        )
        return qs.annotate(active_tokens=Count("tokens", filter=live, distinct=True))

    @admin.display(description="Active tokens", ordering="active_tokens")
    def active_tokens(self, obj: WithAnnotations[Project, ActiveTokens]) -> int:
        return obj.active_tokens

    @admin.display(description="Overview")
    def overview(self, obj: Project) -> str:
        """The console's page of the project: how to call it, its objects and traffic (console/views.py)."""
        url = reverse("admin:console_project_overview", args=[obj.uuid])
        return format_html('<a href="{}">Overview →</a>', url)

    def get_fields(self, request: HttpRequest, obj: Project | None = None) -> tuple[str, ...]:
        editable = ProjectForm.Meta.fields
        if obj is None:
            return editable
        return ("uuid", "slug", *editable, "created_at", "updated_at")

    def get_readonly_fields(self, request: HttpRequest, obj: Project | None = None) -> tuple[str, ...]:
        if obj is None:
            return ()
        # Fixed at creation (design.md section 3): the type is chosen on the add page only.
        return ("uuid", "slug", "project_type", "created_at", "updated_at")

    def get_inlines(self, request: HttpRequest, obj: Project | None) -> tuple[type, ...]:
        # On add the creator becomes owner through the service; members are managed once it exists.
        return self.inlines if obj is not None else ()

    # --- permissions by role -----------------------------------------------------------------------
    def has_module_permission(self, request: HttpRequest) -> bool:
        return admin_roles.can(request, None, "view")

    def has_view_permission(self, request: HttpRequest, obj: Project | None = None) -> bool:
        return admin_roles.can(request, obj, "view")

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Creating a project is global: superusers, or staff granted projects.add_project.
        return request.user.is_superuser or request.user.has_perm("projects.add_project")

    def has_change_permission(self, request: HttpRequest, obj: Project | None = None) -> bool:
        return admin_roles.can(request, obj, "edit")

    def has_delete_permission(self, request: HttpRequest, obj: Project | None = None) -> bool:
        return admin_roles.can(request, obj, "delete")

    def has_edit_permission(self, request: HttpRequest, obj: Project | None = None) -> bool:
        return admin_roles.can(request, obj, "edit")

    def has_revoke_tokens_permission(self, request: HttpRequest, obj: Project | None = None) -> bool:
        return admin_roles.can(request, obj, "revoke_tokens")

    # --- writes go through the services ------------------------------------------------------------
    def save_model(self, request: HttpRequest, obj: Project, form: forms.ModelForm, change: bool) -> None:
        if not change:
            created = services.create_project(
                name=obj.name,
                project_type=obj.project_type,
                env=obj.env,
                description=obj.description,
                metadata=obj.metadata,
                allowed_origins=obj.allowed_origins,
                default_ai_provider=obj.default_ai_provider,
                is_active=obj.is_active,
                owner=request.user,
            )
            # The admin carries on with `obj` (redirect, its LogEntry): make it the row just created.
            for field in Project._meta.concrete_fields:
                setattr(obj, field.attname, getattr(created, field.attname))
            obj._state.adding = False
            obj._state.db = created._state.db
            return
        wanted_active = obj.is_active
        changes = {f: form.cleaned_data[f] for f in form.changed_data if f != "is_active"}
        # The form already wrote the new values onto obj; the status change is its own audited action.
        obj.is_active = form.initial.get("is_active", wanted_active)
        if changes:
            services.update_project(obj, changes)
        services.set_active(obj, wanted_active)

    def response_post_save_add(self, request: HttpRequest, obj: Project) -> HttpResponseRedirect:
        # Straight to the new project's page, where its first token is issued.
        return HttpResponseRedirect(reverse("admin:projects_project_change", args=[obj.pk]))

    def delete_model(self, request: HttpRequest, obj: Project) -> None:
        services.delete_project(obj, getattr(request, _CONFIRM_ATTR, None))

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        # Bulk delete would skip the typed-slug confirmation: projects are deleted one at a time.
        actions.pop("delete_selected", None)
        return actions

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple[Any, ...]:
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        # An owner may delete everything the project owns, whatever the per-model admin says.
        if all(admin_roles.can(request, obj, "delete") for obj in objs):
            perms_needed = set()
        return deleted, model_count, perms_needed, protected

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except PromptGateError as exc:
            # A refusal the form cannot foresee (the project quota): nothing was written.
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        obj = self.get_object(request, object_id)
        if obj is not None:
            extra_context = {**(extra_context or {}), **admin_views.project_page_context(request, obj)}
        return super().change_view(request, object_id, form_url, extra_context)

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = dict(extra_context or {})
        if request.method == "POST":
            typed = request.POST.get("confirm", "").strip()
            obj = self.get_object(request, object_id)
            if obj is not None and typed != obj.slug:
                # Show the confirmation page again instead of deleting: Django deletes on any POST.
                extra_context["confirm_error"] = f"Type the project's slug ({obj.slug}) to confirm deletion."
                request.method, request.POST = "GET", QueryDict()
            setattr(request, _CONFIRM_ATTR, typed)
        return super().delete_view(request, object_id, extra_context)

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return admin_views.audit_history(self, request, object_id)

    # --- bulk actions ------------------------------------------------------------------------------
    def _permitted(self, request: HttpRequest, queryset: QuerySet[Project], action: str) -> list[Project]:
        projects = list(queryset)
        allowed = [p for p in projects if admin_roles.can(request, p, action)]
        if len(allowed) < len(projects):
            skipped = ", ".join(p.name for p in projects if p not in allowed)
            self.message_user(request, f"Skipped (your role does not allow it): {skipped}", messages.WARNING)
        return allowed

    def _set_active(self, request: HttpRequest, queryset: QuerySet[Project], active: bool) -> None:
        projects = self._permitted(request, queryset, "edit")
        for project in projects:
            services.set_active(project, active)
        done = "Activated" if active else "Deactivated"
        self.message_user(request, f"{done} {len(projects)} project(s).", messages.SUCCESS)

    @admin.action(description="Activate selected projects", permissions=["edit"])
    def activate_projects(self, request: HttpRequest, queryset: QuerySet[Project]) -> None:
        self._set_active(request, queryset, True)

    @admin.action(description="Deactivate selected projects", permissions=["edit"])
    def deactivate_projects(self, request: HttpRequest, queryset: QuerySet[Project]) -> HttpResponse | None:
        # All traffic of a deactivated project is refused: ask first, as Django does before deleting.
        if request.POST.get("confirmed") != "yes":
            return admin_views.confirm_deactivation(self, request, queryset)
        self._set_active(request, queryset, False)
        return None

    @admin.action(description="Revoke all tokens of selected projects", permissions=["revoke_tokens"])
    def revoke_all_tokens(self, request: HttpRequest, queryset: QuerySet[Project]) -> None:
        projects = self._permitted(request, queryset, "revoke_tokens")
        total = sum(services.revoke_all_tokens(project) for project in projects)
        self.message_user(
            request, f"Revoked {total} token(s) in {len(projects)} project(s).", messages.SUCCESS
        )

    # --- project page views ------------------------------------------------------------------------
    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        custom = [
            path("<path:object_id>/issue-token/", wrap(self._issue_token), name=f"{name}_issue_token"),
            path(
                "<path:object_id>/tokens/<int:token_id>/revoke/",
                wrap(self._revoke_token),
                name=f"{name}_revoke_token",
            ),
            path("<path:object_id>/do/<str:action>/", wrap(self._project_action), name=f"{name}_action"),
        ]
        return custom + super().get_urls()

    def _issue_token(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return admin_views.issue_token(self, request, object_id)

    def _revoke_token(self, request: HttpRequest, object_id: str, token_id: int) -> HttpResponse:
        return admin_views.revoke_token(self, request, object_id, token_id)

    def _project_action(self, request: HttpRequest, object_id: str, action: str) -> HttpResponse:
        return admin_views.project_action(self, request, object_id, action)


@admin.register(ApiToken)
class ApiTokenAdmin(admin_roles.ProjectScopedAdmin):
    # Seen by the project's members; renamed by those who may issue tokens.
    change_action = "issue_tokens"
    list_display = (
        "prefix",
        "name",
        "project",
        "scope_list",
        "status",
        "expires_at",
        "last_used_at",
        "created_at",
    )
    list_select_related = ("project",)
    list_filter = ("project__env", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("name", "prefix", "project__name", "project__slug")
    fields = (
        "project",
        "name",
        "prefix",
        "scope_list",
        "status",
        "expires_at",
        "max_requests",
        "mcp_tools",
        "request_count",
        "revoked_at",
        "last_used_at",
        "created_by",
        "created_at",
    )
    readonly_fields = tuple(f for f in fields if f != "name")
    actions = ("revoke_tokens",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiToken]:
        return super().get_queryset(request).defer("digest")

    @admin.display(description="Scopes")
    def scope_list(self, obj: ApiToken) -> str:
        return ", ".join(obj.scopes or [])

    @admin.display(description="Status")
    def status(self, obj: ApiToken) -> str:
        return obj.status

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Tokens are issued from their project's page, where the plaintext can be shown once.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        # Revoke, never delete: a revoked token keeps its row for the logs that name its prefix.
        return False

    def has_revoke_tokens_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        return admin_roles.can(request, obj.project if obj else None, "revoke_tokens")

    @admin.action(description="Revoke selected tokens", permissions=["revoke_tokens"])
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        revoked = 0
        for token in queryset.select_related("project"):
            if admin_roles.can(request, token.project, "revoke_tokens") and token.revoked_at is None:
                services.revoke_token(token)
                revoked += 1
        self.message_user(request, f"Revoked {revoked} token(s).", messages.SUCCESS)
