"""Admin console for guardrail rules: global rules for superusers, project and endpoint rules by project
role, the effective (resolved) view of a project or endpoint, and hits per rule per day."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path

from console.forms import InstanceCheckedForm
from gateways.guardrails import reports
from gateways.guardrails.models import RULE_FIELDS, GuardrailRule
from gateways.guardrails.resolution import resolve_guardrails
from gateways.guardrails.services import clean_rule
from projects import admin_roles
from projects.models import Project
from promptgate.errors import PromptGateError


class GuardrailRuleForm(InstanceCheckedForm):
    class Meta:
        model = GuardrailRule
        fields = ("project", "endpoint", "name", *RULE_FIELDS)
        help_texts = {
            "project": "Empty: a global rule (superusers only).",
            "endpoint": "An AI endpoint slug, API endpoint slug or MCP server prefix; empty: the whole project.",
            "config": "Per kind, as JSON; see the README's Guardrails section.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "kind" in self.fields:
            self.fields["kind"].required = False  # an override inherits the wider rule's kind

    def _post_clean(self) -> None:
        super()._post_clean()
        if self.errors:
            return
        try:
            clean_rule(self.instance)
        except PromptGateError as exc:
            if exc.fields:
                for name, messages in exc.fields.items():
                    self.add_error(name if name in self.fields else None, messages)
            else:
                self.add_error(None, exc.message)


@admin.register(GuardrailRule)
class GuardrailRuleAdmin(admin_roles.ProjectScopedAdmin):
    form = GuardrailRuleForm
    list_display = (
        "name",
        "level_name",
        "project",
        "endpoint",
        "kind",
        "stage",
        "action",
        "enabled",
        "locked",
    )
    list_select_related = ("project",)
    list_filter = (
        "kind",
        "action",
        "stage",
        "enabled",
        "locked",
        ("project", admin.RelatedOnlyFieldListFilter),
    )
    search_fields = ("name", "endpoint", "project__name", "description")
    readonly_fields = ("created_at", "updated_at")
    change_list_template = "admin/guardrails/rule_changelist.html"

    @admin.display(description="Level")
    def level_name(self, obj: GuardrailRule) -> str:
        return obj.level

    # --- who sees and edits what: global rules are read by everyone with a project, written by superusers
    def get_queryset(self, request: HttpRequest) -> QuerySet[GuardrailRule]:
        qs = admin.ModelAdmin.get_queryset(self, request)
        if not request.user.is_superuser:
            qs = qs.filter(
                Q(project__isnull=True) | Q(project_id__in=admin_roles.project_ids_where(request, "view"))
            )
        return qs

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.project_id is None:
            return bool(request.user.is_superuser)
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.project_id is None:
            return bool(request.user.is_superuser)
        return super().has_delete_permission(request, obj)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.project_id is None:
            return admin_roles.can(request, None, "view")
        return super().has_view_permission(request, obj)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "project" and not request.user.is_superuser:
            kwargs["required"] = True  # a global rule (no project) is the superusers' alone
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    # --- extra pages -------------------------------------------------------------------------------------
    def get_urls(self) -> list[Any]:
        extra = [
            path("effective/", self.admin_site.admin_view(self.effective_view), name="guardrails_effective"),
            path("hits/", self.admin_site.admin_view(self.hits_view), name="guardrails_hits"),
        ]
        return extra + super().get_urls()

    def _projects(self, request: HttpRequest) -> QuerySet[Project]:
        if request.user.is_superuser:
            return Project.objects.order_by("name")
        return Project.objects.filter(pk__in=admin_roles.project_ids_where(request, "view")).order_by("name")

    def effective_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_module_permission(request):
            raise PermissionDenied
        projects = self._projects(request)
        project = projects.filter(pk=request.GET.get("project") or 0).first()
        endpoint = request.GET.get("endpoint", "")
        rules = [r.as_dict() for r in resolve_guardrails(project.pk if project else None, endpoint)]
        context = {
            **self.admin_site.each_context(request),
            "title": "Effective guardrails",
            "opts": self.model._meta,
            "projects": projects,
            "project": project,
            "endpoint": endpoint,
            "rules": rules,
        }
        return TemplateResponse(request, "admin/guardrails/effective.html", context)

    def hits_view(self, request: HttpRequest) -> HttpResponse:
        if not admin_roles.can(request, None, "read_logs"):
            raise PermissionDenied
        uuids = None if request.user.is_superuser else admin_roles.project_uuids_where(request, "read_logs")
        try:
            days = max(1, min(int(request.GET.get("days", "14")), 90))
        except ValueError:
            days = 14
        rows, truncated = reports.hits_per_rule_per_day(uuids, days)
        context = {
            **self.admin_site.each_context(request),
            "title": "Guardrail hits per rule per day",
            "opts": self.model._meta,
            "rows": rows,
            "days": days,
            "truncated": truncated,
        }
        return TemplateResponse(request, "admin/guardrails/hits.html", context)
