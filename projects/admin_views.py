"""Project-page admin views: issue a token (plaintext shown once), revoke, status actions, audit history."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse

from audit.models import AuditLog
from credentials import crypto
from projects import admin_roles, services
from projects.models import ApiToken, Project, ProjectType, Scope, validate_tool_patterns
from promptgate.errors import PromptGateError

TOKENS_ON_PAGE = 100

DURATION_CHOICES = [
    ("1h", "1 hour"),
    ("1d", "1 day"),
    ("7d", "7 days"),
    ("30d", "30 days"),
    ("90d", "90 days"),
    ("never", "Never expires"),
    ("custom", "Explicit expiry (below)"),
]

# Preselected on the issue form: the scope of the project type's own routes (a token for the MCP bridge
# or introspection is the exception, ticked by hand).
SCOPES_BY_TYPE: dict[str, tuple[Scope, ...]] = {
    ProjectType.AI_GATEWAY: (Scope.AI,),
    ProjectType.AI_WRAPPER: (Scope.AI,),
    ProjectType.API_GATEWAY: (Scope.PROXY,),
    ProjectType.MCP_GATEWAY: (Scope.MCP,),
}


class IssueTokenForm(forms.Form):
    name = forms.CharField(max_length=100)
    scopes = forms.MultipleChoiceField(choices=Scope.choices, widget=forms.CheckboxSelectMultiple)
    duration = forms.ChoiceField(choices=DURATION_CHOICES, initial="30d")
    expires_at = forms.DateTimeField(
        required=False,
        label="Expires at",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Only with “Explicit expiry”. Server time zone.",
    )
    max_requests = forms.IntegerField(required=False, min_value=1, label="Max requests")
    mcp_tools = forms.CharField(
        required=False,
        label="MCP tools",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="MCP projects: the tools this token may list and call, as exposed names or globs "
        "(github__*), comma- or line-separated. Empty: every tool.",
    )

    def clean_mcp_tools(self) -> list[str]:
        raw = self.cleaned_data.get("mcp_tools") or ""
        patterns = [p.strip() for p in raw.replace(",", "\n").splitlines() if p.strip()]
        try:
            validate_tool_patterns(patterns)
        except ValidationError as exc:
            raise forms.ValidationError(exc.messages) from None
        return patterns

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if data.get("duration") == "custom" and not data.get("expires_at"):
            self.add_error("expires_at", "Give an expiry date, or pick a duration.")
        if data.get("duration") != "custom" and data.get("expires_at"):
            self.add_error("expires_at", "Pick “Explicit expiry” to use a date.")
        return data


def _project_or_404(model_admin: admin.ModelAdmin, request: HttpRequest, object_id: str) -> Project:
    project = model_admin.get_object(request, object_id)
    if project is None:
        raise Http404("No such project")
    return project


def _change_url(project: Project) -> str:
    return reverse("admin:projects_project_change", args=[project.pk])


def project_page_context(request: HttpRequest, project: Project) -> dict[str, Any]:
    """What the project's change page shows beside the form: its tokens and the buttons the role allows."""
    tokens = ApiToken.objects.filter(project=project).defer("digest")
    all_tokens_url = reverse("admin:projects_apitoken_changelist") + f"?project__id__exact={project.pk}"
    return {
        # Bounded: a busy project's full list lives in the token admin.
        "project_tokens": list(tokens[:TOKENS_ON_PAGE]),
        "project_token_count": tokens.count(),
        "all_tokens_url": all_tokens_url,
        "can_issue_tokens": admin_roles.can(request, project, "issue_tokens"),
        "can_revoke_tokens": admin_roles.can(request, project, "revoke_tokens"),
        "can_edit_project": admin_roles.can(request, project, "edit"),
        "can_read_logs": admin_roles.can(request, project, "read_logs"),
    }


def _error_fields(form: forms.Form, exc: PromptGateError) -> None:
    for field, errors in (exc.fields or {}).items():
        for error in errors:
            form.add_error(field if field in form.fields else None, error)
    if not exc.fields:
        form.add_error(None, exc.message)


# Session key of the token just issued, until its one display: its id and the plaintext encrypted with
# the credentials key (so no table ever holds it readable), popped by the GET that shows it.
ISSUED_KEY = "promptgate_issued_token"


def issue_token(model_admin: admin.ModelAdmin, request: HttpRequest, object_id: str) -> HttpResponse:
    """GET: the form. POST: issue, then redirect (reloading never issues a second token); the GET after
    it shows the plaintext once, taken from the session (encrypted there) and removed as it is shown."""
    project = _project_or_404(model_admin, request, object_id)
    if not admin_roles.can(request, project, "issue_tokens"):
        raise PermissionDenied
    status = 200
    token: ApiToken | None
    plaintext: str | None
    form = IssueTokenForm(request.POST or None, initial={"scopes": default_scopes(project)})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        custom = data["duration"] == "custom"
        try:
            token, plaintext = services.issue_token(
                project,
                name=data["name"],
                scopes=list(data["scopes"]),
                duration=None if custom else data["duration"],
                expires_at=data["expires_at"] if custom else None,
                max_requests=data["max_requests"],
                mcp_tools=data["mcp_tools"],
                created_by=request.user,
            )
        except PromptGateError as exc:
            _error_fields(form, exc)
            status = exc.status
        else:
            request.session[ISSUED_KEY] = {"id": token.pk, "sealed": crypto.encrypt(plaintext)}
            url = reverse("admin:projects_project_issue_token", args=[project.pk])
            return HttpResponseRedirect(f"{url}?issued={token.pk}")
    elif request.method not in ("GET", "HEAD", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    token, plaintext, shown_before = None, None, False
    if request.method != "POST" and "issued" in request.GET:
        token, plaintext = _take_issued(request, project, request.GET["issued"])
        shown_before = plaintext is None
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"Issue a token for {project.name}",
        "subtitle": None,
        "opts": model_admin.opts,
        "original": project,
        "form": form,
        "token": token,
        "plaintext": plaintext,
        "shown_before": shown_before,
        "inactive": not project.is_active,
        "change_url": _change_url(project),
    }
    response = TemplateResponse(request, "admin/projects/project/issue_token.html", context, status=status)
    # The plaintext must not linger in any cache between here and the browser.
    response["Cache-Control"] = "no-store"
    return response


def _take_issued(request: HttpRequest, project: Project, issued: str) -> tuple[ApiToken | None, str | None]:
    """The token named in the URL and, the first time only, its plaintext (then gone from the session)."""
    token = ApiToken.objects.filter(project=project, pk=issued if issued.isdigit() else 0).first()
    held = request.session.get(ISSUED_KEY)
    if token is None or not held or held.get("id") != token.pk:
        return token, None
    del request.session[ISSUED_KEY]
    return token, crypto.decrypt(held["sealed"])


def default_scopes(project: Project) -> list[str]:
    """The scopes a token of this project type usually needs, preselected on the form."""
    return list(SCOPES_BY_TYPE.get(project.project_type, ()))


def confirm_deactivation(
    model_admin: admin.ModelAdmin, request: HttpRequest, queryset: Any
) -> TemplateResponse:
    """The page the bulk "Deactivate" action answers first: the projects named, and a confirm button
    that posts the same selection again with confirmed=yes."""
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Deactivate projects?",
        "subtitle": None,
        "opts": model_admin.opts,
        "projects": list(queryset),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/projects/project/deactivate_confirmation.html", context)


def revoke_token(
    model_admin: admin.ModelAdmin, request: HttpRequest, object_id: str, token_id: int
) -> HttpResponse:
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    project = _project_or_404(model_admin, request, object_id)
    if not admin_roles.can(request, project, "revoke_tokens"):
        raise PermissionDenied
    token = get_object_or_404(ApiToken, pk=token_id, project=project)
    services.revoke_token(token)
    model_admin.message_user(request, f"Token {token.prefix}… revoked.", messages.SUCCESS)
    return HttpResponseRedirect(_change_url(project))


# action name in the URL -> (role action required, what to do, message)
_ACTIONS = {
    "activate": ("edit", lambda p: services.set_active(p, True), "Project activated."),
    "deactivate": ("edit", lambda p: services.set_active(p, False), "Project deactivated."),
    "revoke-all-tokens": (
        "revoke_tokens",
        lambda p: services.revoke_all_tokens(p),
        "Revoked {result} token(s).",
    ),
}


def project_action(
    model_admin: admin.ModelAdmin, request: HttpRequest, object_id: str, action: str
) -> HttpResponse:
    if action not in _ACTIONS:
        raise Http404("No such action")
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    project = _project_or_404(model_admin, request, object_id)
    required, run, message = _ACTIONS[action]
    if not admin_roles.can(request, project, required):
        raise PermissionDenied
    result = run(project)
    model_admin.message_user(request, message.format(result=result), messages.SUCCESS)
    return HttpResponseRedirect(_change_url(project))


def change_summary(row: AuditLog) -> str:
    """One line per row: field changes as old → new on updates, the fields' count on create/delete."""
    if row.before and row.after:
        parts = [f"{key}: {row.before.get(key)!s} → {value!s}" for key, value in row.after.items()]
    elif row.after:
        parts = [f"{len(row.after)} fields set"]
    elif row.before:
        parts = [f"{row.object_repr or row.object_type} removed"]
    else:
        parts = []
    parts += [f"{key}: {value}" for key, value in (row.extra or {}).items()]
    return "; ".join(parts)


def audit_history(model_admin: admin.ModelAdmin, request: HttpRequest, object_id: str) -> HttpResponse:
    """The project's AuditLog rows (by uuid, so they include its tokens, members and endpoints)."""
    project = _project_or_404(model_admin, request, object_id)
    if not admin_roles.can(request, project, "read_logs"):
        raise PermissionDenied
    rows = AuditLog.objects.filter(project_uuid=project.uuid).order_by("-time", "-id")
    page = Paginator(rows, 100).get_page(request.GET.get("p"))
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"Audit history: {project.name}",
        "subtitle": None,
        "opts": model_admin.opts,
        "object": project,
        "page": page,
        "rows": [(row, change_summary(row)) for row in page.object_list],
        "page_range": page.paginator.get_elided_page_range(page.number),
        "change_url": _change_url(project),
        "auditlog_url": reverse("admin:audit_auditlog_changelist") + f"?project_uuid={project.uuid}",
    }
    return TemplateResponse(request, "admin/projects/project/audit_history.html", context)
