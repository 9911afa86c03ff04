"""Model signals that write an audit row for every create, update and delete, plus auth events.

Every model of PromptGate's own apps is covered automatically (see AUDITED_APPS), so a new model
cannot forget its trail; tests/audit/test_coverage.py walks them all to prove it.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db import models
from django.db.models.signals import post_delete, post_save, pre_save
from oauth2_provider.signals import app_authorized

from audit import context, marks
from audit.services import record
from audit.snapshots import changed_secrets, diff, snapshot

# The request log's rollups and its writers' bookkeeping (batch ids, the pruning lease).
ROLLUP_BOOKKEEPING = {
    "audit.hourlyrollup",
    "audit.dailyrollup",
    "audit.requestlogbatch",
    "audit.rollupprogress",
    "audit.maintenancelease",
}
AUDITED_APPS = {"projects", "credentials", "audit", "common", "ai", "http", "mcp", "guardrails", "webhooks"}
# Extra models we do not own but whose changes are security relevant.
AUDITED_EXTRA = {"auth.user", "auth.group", "oauth2_provider.application"}
# Logs are the trail itself; tables of bookkeeping rows are not state changes.
NOT_AUDITED = {
    "audit.auditlog",
    "audit.requestlog",
    "common.configversion",
    # The outbox and its delivery log are records of what was sent, not configuration.
    "webhooks.event",
    "webhooks.delivery",
    "webhooks.deliveryattempt",
    # A marker beside the audited user row (its creation and its password change are audited there).
    "projects.passwordchangerequired",
    *ROLLUP_BOOKKEEPING,
}


def is_audited(model: type[models.Model]) -> bool:
    label = model._meta.label_lower
    if label in NOT_AUDITED or model._meta.auto_created:
        return False
    return model._meta.app_label in AUDITED_APPS or label in AUDITED_EXTRA


def _before_save(sender: type[models.Model], instance: models.Model, raw: bool, **kwargs: Any) -> None:
    if raw or not is_audited(sender) or instance.pk is None:
        marks.set_before(instance, None, set())
        return
    old = sender._base_manager.filter(pk=instance.pk).first()
    if old is None:
        marks.set_before(instance, None, set())
        return
    # Snapshots mask secrets, so a replaced secret would diff as unchanged: note which ones moved.
    marks.set_before(instance, snapshot(old), changed_secrets(old, instance))


def _after_save(
    sender: type[models.Model], instance: models.Model, created: bool, raw: bool, **kwargs: Any
) -> None:
    if raw or not is_audited(sender):
        return
    after = snapshot(instance)
    before_full, secrets_changed = marks.before_of(instance)
    action = marks.take_action(instance)
    if created or before_full is None:
        record(action or "create", instance=instance, after=after)
        return
    before, changed = diff(before_full, after, secrets_changed)
    if not changed and not action:
        return
    record(action or "update", instance=instance, before=before, after=changed)


def _after_delete(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    if not is_audited(sender):
        return
    record("delete", instance=instance, before=snapshot(instance))


def _logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    record("login", instance=user, actor=context.actor_for_user(user))


def _logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        record("logout", instance=user, actor=context.actor_for_user(user))


def _login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    # Only the username: Django already blanks the password, and we keep nothing else it passed.
    username = str(credentials.get("username", ""))[:150]
    record("login_failed", object_type="auth.user", object_repr=username, extra={"username": username})


def _access_token_issued(sender: Any, request: Any, token: Any, **kwargs: Any) -> None:
    """A management API access token issued at /o/token/: who got it, for what, until when (never the token)."""
    application = token.application
    actor = context.Actor(kind="api_client", id=str(application.client_id), label=application.name)
    record(
        "oauth.access_token_issued",
        object_type="oauth2_provider.accesstoken",
        object_id=str(token.pk),
        object_repr=application.name[:200],
        actor=actor,
        extra={
            "client_id": str(application.client_id),
            "grant_type": str(application.authorization_grant_type),
            "user": getattr(token.user, "username", "") or getattr(application.user, "username", ""),
            "scope": token.scope,
            "expires": token.expires.isoformat() if token.expires else None,
        },
    )


def connect() -> None:
    for model in apps.get_models():
        if is_audited(model):
            uid = model._meta.label_lower
            pre_save.connect(_before_save, sender=model, dispatch_uid=f"audit-pre-{uid}")
            post_save.connect(_after_save, sender=model, dispatch_uid=f"audit-post-{uid}")
            post_delete.connect(_after_delete, sender=model, dispatch_uid=f"audit-del-{uid}")
    user_logged_in.connect(_logged_in, dispatch_uid="audit-login")
    user_logged_out.connect(_logged_out, dispatch_uid="audit-logout")
    user_login_failed.connect(_login_failed, dispatch_uid="audit-login-failed")
    app_authorized.connect(_access_token_issued, dispatch_uid="audit-access-token-issued")
