"""Project and token lifecycle: every change the admin, the API and manage.py make goes through here."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Model
from django.utils import timezone
from django.utils.text import slugify

from audit import marks
from audit.services import record
from gateways.common import versioning
from projects import tokens
from projects.models import ApiToken, Membership, Project, Role, Scope
from promptgate.errors import ErrorCode, PromptGateError
from webhooks import services as webhooks

DURATIONS: dict[str, datetime.timedelta | None] = {
    "1h": datetime.timedelta(hours=1),
    "1d": datetime.timedelta(days=1),
    "7d": datetime.timedelta(days=7),
    "30d": datetime.timedelta(days=30),
    "90d": datetime.timedelta(days=90),
    "never": None,
}


def require_project_type(project: Project, allowed: Iterable[str], what: str) -> None:
    """Refuse (400 wrong_project_type) a resource on a project whose type does not carry it.

    `what` starts the message, verb included: "API endpoints belong to".
    """
    allowed = sorted(allowed)
    if project.project_type not in allowed:
        raise PromptGateError(
            f"{what} {' and '.join(allowed)} projects; this one is {project.project_type}",
            code=ErrorCode.WRONG_PROJECT_TYPE,
        )


def validation_error(exc: ValidationError) -> PromptGateError:
    fields = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
    return PromptGateError("Invalid input", code=ErrorCode.VALIDATION_ERROR, status=400, fields=fields)


def save_validated(
    instance: Model,
    changes: Mapping[str, Any],
    *,
    unique: str,
    taken: str,
    errors: dict[str, list[str]] | None = None,
    refuse: Callable[[dict[str, list[str]]], PromptGateError] | None = None,
) -> Any:
    """Apply `changes` to a project's resource, validate as the model does, save in one transaction.

    Every problem is listed at once (beside the `errors` the caller found): 400 `validation_error`, or
    what `refuse` makes of the fields (wrong project type, SSRF). `unique` must be unique per project;
    two writers racing for one value get the answer a sequential duplicate gets (`taken`).
    """
    for name, value in changes.items():
        setattr(instance, name, value)
    found: dict[str, list[str]] = {name: list(messages) for name, messages in (errors or {}).items()}
    try:
        instance.full_clean(validate_constraints=False)
    except ValidationError as exc:
        for name, messages in exc.message_dict.items():
            found.setdefault(name, []).extend(messages)
    value = getattr(instance, unique)
    if value:
        project_id = instance.project_id  # type: ignore[attr-defined]  # every project-scoped model has it
        others = type(instance)._default_manager.filter(project_id=project_id, **{unique: value})
        if others.exclude(pk=instance.pk).exists():
            found.setdefault(unique, []).append(taken)
    if found:
        if refuse is not None:
            raise refuse(found)
        raise PromptGateError("Invalid input", code=ErrorCode.VALIDATION_ERROR, fields=found)
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError:
        raise PromptGateError(
            "Invalid input", code=ErrorCode.VALIDATION_ERROR, fields={unique: [taken]}
        ) from None
    return instance


def _unique_slug(name: str) -> str:
    base = slugify(name)[:100] or "project"
    slug, n = base, 1
    while Project.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def create_project(
    *,
    name: str,
    project_type: str,
    env: str = "dev",
    description: str = "",
    metadata: dict[str, Any] | None = None,
    allowed_origins: list[str] | None = None,
    default_ai_provider: str = "",
    is_active: bool = True,
    owner: Any = None,
) -> Project:
    limit = settings.PROMPTGATE_MAX_PROJECTS
    if limit is not None and Project.objects.count() >= limit:
        raise PromptGateError(
            f"Project limit reached ({limit})", code=ErrorCode.PROJECT_LIMIT_REACHED, status=403
        )
    project = Project(
        name=name,
        project_type=project_type,
        env=env,
        description=description or "",
        metadata={} if metadata is None else metadata,
        allowed_origins=[] if allowed_origins is None else allowed_origins,
        default_ai_provider=default_ai_provider or "",
        is_active=is_active,
    )
    project.slug = _unique_slug(name or "")
    try:
        project.full_clean()
    except ValidationError as exc:
        raise validation_error(exc) from exc
    project.save()
    if owner is not None and getattr(owner, "is_authenticated", False):
        Membership.objects.create(user=owner, project=project, role=Role.OWNER)
    webhooks.project_event("project.created", project)
    versioning.bump()
    return project


@transaction.atomic
def update_project(project: Project, changes: dict[str, Any]) -> Project:
    immutable = {f: ["This field cannot be changed."] for f in Project.IMMUTABLE_FIELDS if f in changes}
    if immutable:
        raise PromptGateError("Immutable field", code=ErrorCode.IMMUTABLE_FIELD, status=400, fields=immutable)
    was_active = project.is_active
    for field, value in changes.items():
        setattr(project, field, value)
    try:
        project.full_clean(exclude=["slug"])
    except ValidationError as exc:
        raise validation_error(exc) from exc
    project.save()
    webhooks.project_event("project.updated", project, changed=sorted(changes))
    if project.is_active != was_active:
        webhooks.project_event("project.activated" if project.is_active else "project.deactivated", project)
    versioning.bump()
    return project


@transaction.atomic
def set_active(project: Project, active: bool) -> Project:
    if project.is_active != active:
        project.is_active = active
        marks.mark_action(project, "activate" if active else "deactivate")
        project.save(update_fields=["is_active", "updated_at"])
        webhooks.project_event("project.activated" if active else "project.deactivated", project)
        versioning.bump()
    return project


@transaction.atomic
def delete_project(project: Project, confirm: str | None) -> None:
    """Deletes the project and everything it owns; its audit rows stay (they hold values, not keys)."""
    if confirm != project.slug:
        raise PromptGateError(
            f"Confirm deletion by passing the project's slug ({project.slug!r}) as confirm",
            code=ErrorCode.CONFIRMATION_REQUIRED,
            status=400,
            fields={"confirm": [f"Must equal the project's slug: {project.slug}"]},
        )
    announce = webhooks.project_deleted(project)
    project.delete()
    announce()
    versioning.bump()


def resolve_expiry(expires_at: datetime.datetime | None, duration: str | None) -> datetime.datetime | None:
    if expires_at is not None and duration is not None:
        raise PromptGateError(
            "Give expires_at or duration, not both",
            code=ErrorCode.VALIDATION_ERROR,
            fields={"duration": ["Give expires_at or duration, not both."]},
        )
    if duration is not None:
        if duration not in DURATIONS:
            raise PromptGateError(
                "Unknown duration",
                code=ErrorCode.VALIDATION_ERROR,
                fields={"duration": [f"Must be one of: {', '.join(DURATIONS)}."]},
            )
        delta = DURATIONS[duration]
        return None if delta is None else timezone.now() + delta
    if expires_at is not None and expires_at <= timezone.now():
        raise PromptGateError(
            "expires_at is in the past",
            code=ErrorCode.VALIDATION_ERROR,
            fields={"expires_at": ["Must be in the future."]},
        )
    return expires_at


def validate_scopes(scopes: Any) -> list[str]:
    valid = set(Scope.values)
    if not isinstance(scopes, list) or not scopes or any(s not in valid for s in scopes):
        raise PromptGateError(
            "Invalid scopes",
            code=ErrorCode.VALIDATION_ERROR,
            fields={"scopes": [f"A non-empty list drawn from: {', '.join(Scope.values)}."]},
        )
    return sorted(set(scopes))


@transaction.atomic
def issue_token(
    project: Project,
    *,
    name: str,
    scopes: list[str],
    expires_at: datetime.datetime | None = None,
    duration: str | None = None,
    max_requests: int | None = None,
    mcp_tools: list[str] | None = None,
    created_by: Any = None,
) -> tuple[ApiToken, str]:
    """Create a token; the plaintext is returned here once and stored nowhere."""
    project = Project.objects.select_for_update().get(pk=project.pk)
    if not project.is_active:
        raise PromptGateError(
            "Cannot generate tokens for inactive project", code=ErrorCode.PROJECT_INACTIVE, status=409
        )
    issued = tokens.generate(project.env)
    token = ApiToken(
        project=project,
        name=name,
        scopes=validate_scopes(scopes),
        expires_at=resolve_expiry(expires_at, duration),
        max_requests=max_requests,
        mcp_tools=list(mcp_tools or []),
        prefix=issued.prefix,
        digest=issued.digest,
        created_by=created_by if getattr(created_by, "is_authenticated", False) else None,
    )
    try:
        token.full_clean(exclude=["digest", "prefix", "project", "created_by"])
    except ValidationError as exc:
        raise validation_error(exc) from exc
    marks.mark_action(token, "token_issue")
    token.save()
    webhooks.token_event("token.created", token)
    versioning.bump()
    return token, issued.plaintext


@transaction.atomic
def revoke_token(token: ApiToken) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        marks.mark_action(token, "token_revoke")
        token.save(update_fields=["revoked_at"])
        webhooks.token_event("token.revoked", token)
        versioning.bump()
    return token


@transaction.atomic
def revoke_all_tokens(project: Project) -> int:
    """Revoke every live token of a project in one statement, with one audit event carrying the count."""
    live = ApiToken.objects.select_for_update().filter(project=project, revoked_at__isnull=True)
    ids = list(live.values_list("pk", flat=True))
    count = ApiToken.objects.filter(pk__in=ids).update(revoked_at=timezone.now())
    record(
        "tokens_bulk_revoke",
        instance=project,
        object_type="projects.project",
        extra={"revoked": count},
    )
    for token in ApiToken.objects.filter(pk__in=ids).select_related("project"):
        webhooks.token_event("token.revoked", token)
    versioning.bump()
    return count


def _ensure_owner_remains(membership: Membership) -> None:
    others = Membership.objects.filter(project_id=membership.project_id, role=Role.OWNER).exclude(
        pk=membership.pk
    )
    if membership.role == Role.OWNER and not others.exists():
        raise PromptGateError("A project keeps at least one owner", code=ErrorCode.LAST_OWNER, status=409)


@transaction.atomic
def add_member(project: Project, user: Any, role: str) -> Membership:
    if Membership.objects.filter(project=project, user=user).exists():
        raise PromptGateError(
            "Already a member",
            code=ErrorCode.VALIDATION_ERROR,
            fields={"user": ["Already a member of this project."]},
        )
    membership = Membership(project=project, user=user, role=role)
    try:
        membership.full_clean()
    except ValidationError as exc:
        raise validation_error(exc) from exc
    membership.save()
    return membership


@transaction.atomic
def change_role(membership: Membership, role: str) -> Membership:
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    if role != membership.role:
        if role != Role.OWNER:
            _ensure_owner_remains(membership)
        membership.role = role
        try:
            membership.full_clean()
        except ValidationError as exc:
            raise validation_error(exc) from exc
        membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def remove_member(membership: Membership) -> None:
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    _ensure_owner_remains(membership)
    membership.delete()
