"""Admin console for webhooks: role-scoped, secret shown once, rotate, test, delivery log with redelivery."""

from __future__ import annotations

import datetime
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from gateways.common import ssrf
from projects import admin_roles
from promptgate.errors import PromptGateError
from webhooks import delivery as deliveries
from webhooks import services, signing
from webhooks.catalogue import EVENT_TYPES
from webhooks.models import Webhook

LOG_ROWS = 50


class WebhookForm(forms.ModelForm):
    url = forms.CharField(max_length=2000, label="URL")
    events = forms.MultipleChoiceField(
        choices=[("*", "every event")] + [(t, t) for t in EVENT_TYPES],
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = Webhook
        fields = ("project", "url", "events", "enabled", "description")

    def clean_url(self) -> str:
        url = self.cleaned_data["url"].strip()
        try:
            ssrf.validate_url(url)
        except ssrf.SsrfBlocked as exc:
            raise forms.ValidationError(exc.saved_message("webhook URL")) from None
        return url


@admin.register(Webhook)
class WebhookAdmin(admin_roles.ProjectScopedAdmin):
    form = WebhookForm
    list_display = ("__str__", "project", "url", "enabled", "state", "created_at")
    list_select_related = ("project",)
    list_filter = ("enabled",)
    search_fields = ("url", "description", "project__name")
    readonly_fields = ("secret_hint", "state", "action_buttons", "delivery_log")

    # --- who sees what: global webhooks (no project) are the superusers' alone ------------------------
    def _global_refused(self, request: HttpRequest, obj: Webhook | None) -> bool:
        return obj is not None and obj.project_id is None and not request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not self._global_refused(request, obj) and super().has_view_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not self._global_refused(request, obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not self._global_refused(request, obj) and super().has_delete_permission(request, obj)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "project" and not request.user.is_superuser:
            kwargs["required"] = True  # a global webhook (no project) is the superusers' alone
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Webhook | None = None) -> tuple[str, ...]:
        fields = list(WebhookForm.Meta.fields)
        if obj is not None:
            fields += ["secret_hint", "state", "action_buttons", "delivery_log"]
        return tuple(fields)

    def get_readonly_fields(self, request: HttpRequest, obj: Webhook | None = None) -> tuple[str, ...]:
        return (*self.readonly_fields, "project") if obj is not None else self.readonly_fields

    # --- display --------------------------------------------------------------------------------------
    @admin.display(description="Signing secret")
    def secret_hint(self, obj: Webhook) -> str:
        return signing.mask(obj.secret)

    @admin.display(description="State")
    def state(self, obj: Webhook) -> str:
        if obj.disabled_reason:
            return format_html('<strong style="color:#ba2121">disabled</strong>: {}', obj.disabled_reason)
        if obj.failing_since:
            return format_html('<span style="color:#a60">failing since {}</span>', obj.failing_since)
        return "enabled" if obj.enabled else "disabled"

    @admin.display(description="Actions")
    def action_buttons(self, obj: Webhook) -> str:
        buttons = [
            ("Send a test event", reverse("admin:webhooks_webhook_test", args=[obj.pk])),
            ("Rotate the secret", reverse("admin:webhooks_webhook_rotate", args=[obj.pk])),
        ]
        since = (timezone.now() - datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
        until = timezone.now().strftime("%Y-%m-%dT%H:%M")
        html = format_html_join(
            " ",
            '<button type="submit" formaction="{}" formmethod="post">{}</button>',
            ((u, t) for t, u in buttons),
        )
        return html + format_html(
            '<p>Redeliver failed deliveries from <input type="datetime-local" name="redeliver_since" value="{}">'
            ' to <input type="datetime-local" name="redeliver_until" value="{}"> (UTC) '
            '<button type="submit" formaction="{}" formmethod="post">Redeliver failed</button></p>',
            since,
            until,
            reverse("admin:webhooks_webhook_redeliver_failed", args=[obj.pk]),
        )

    @admin.display(description="Deliveries (newest first)")
    def delivery_log(self, obj: Webhook) -> str:
        rows = obj.deliveries.select_related("event").prefetch_related("attempts")[:LOG_ROWS]
        lines = []
        for item in rows:
            attempts = format_html_join(
                "<br>",
                "{} → {} {} ms {}",
                (
                    (
                        a.attempted_at.strftime("%Y-%m-%d %H:%M:%S"),
                        a.status_code or a.error,
                        a.latency_ms,
                        a.response_excerpt[:120],
                    )
                    for a in item.attempts.all()
                ),
            )
            redeliver = reverse("admin:webhooks_webhook_redeliver", args=[obj.pk, item.pk])
            lines.append(
                format_html(
                    "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td>"
                    '<td><button type="submit" formaction="{}" formmethod="post">Redeliver</button></td></tr>',
                    item.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                    item.event.type,
                    item.event_id,
                    item.status,
                    attempts,
                    redeliver,
                )
            )
        if not lines:
            return "No deliveries yet."
        head = mark_safe(
            "<table><tr><th>created</th><th>event</th><th>webhook-id</th><th>status</th>"
            "<th>attempts</th><th></th></tr>"
        )
        return head + format_html_join("", "{}", ((line,) for line in lines)) + mark_safe("</table>")

    # --- saving: a new webhook gets its secret, shown on the next page only -------------------------------
    def save_model(self, request: HttpRequest, obj: Webhook, form: Any, change: bool) -> None:
        if not change:
            obj.secret = signing.generate_secret()
            request._webhook_secret = obj.secret  # type: ignore[attr-defined]  # shown once by response_add
        elif "enabled" in form.changed_data and obj.enabled:
            obj.disabled_reason, obj.disabled_at, obj.failing_since = "", None, None
        super().save_model(request, obj, form, change)

    def response_add(self, request: HttpRequest, obj: Webhook, post_url_continue: Any = None) -> HttpResponse:
        secret = getattr(request, "_webhook_secret", None)
        if secret is None:
            return super().response_add(request, obj, post_url_continue)
        return self._secret_page(request, obj, secret, rotated=False)

    def _secret_page(self, request: HttpRequest, obj: Webhook, secret: str, *, rotated: bool) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": "Webhook signing secret",
            "opts": self.opts,
            "webhook": obj,
            "secret": secret,
            "rotated": rotated,
            "change_url": reverse("admin:webhooks_webhook_change", args=[obj.pk]),
        }
        response = TemplateResponse(request, "admin/webhooks/webhook/secret.html", context)
        response["Cache-Control"] = "no-store"  # the secret must not linger in any cache
        return response

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> Any:
        hook = self.get_queryset(request).filter(pk=object_id).first() if object_id.isdigit() else None
        if hook is not None and hook.disabled_reason and request.method == "GET":
            self.message_user(request, f"This webhook was disabled: {hook.disabled_reason}", messages.WARNING)
        return super().change_view(request, object_id, form_url, extra_context)

    # --- actions --------------------------------------------------------------------------------------
    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        custom = [
            path("<int:pk>/test/", view(self.test_view), name="webhooks_webhook_test"),
            path("<int:pk>/rotate/", view(self.rotate_view), name="webhooks_webhook_rotate"),
            path(
                "<int:pk>/redeliver/<int:delivery_id>/",
                view(self.redeliver_view),
                name="webhooks_webhook_redeliver",
            ),
            path(
                "<int:pk>/redeliver-failed/",
                view(self.redeliver_failed_view),
                name="webhooks_webhook_redeliver_failed",
            ),
        ]
        return custom + super().get_urls()

    def _editable(self, request: HttpRequest, pk: int) -> Webhook:
        if request.method != "POST":
            raise PermissionDenied
        hook = get_object_or_404(self.get_queryset(request), pk=pk)
        if not self.has_change_permission(request, hook):
            raise PermissionDenied
        return hook

    def _back(self, hook: Webhook) -> HttpResponse:
        return HttpResponseRedirect(reverse("admin:webhooks_webhook_change", args=[hook.pk]))

    def test_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        hook = self._editable(request, pk)
        try:
            attempt = services.send_test(hook)
        except PromptGateError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return self._back(hook)
        level = messages.SUCCESS if attempt.succeeded else messages.ERROR
        outcome = attempt.status_code or attempt.error
        self.message_user(request, f"Test event: {outcome} in {attempt.latency_ms} ms", level)
        return self._back(hook)

    def rotate_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        hook, secret = services.rotate_secret(self._editable(request, pk))
        return self._secret_page(request, hook, secret, rotated=True)

    def redeliver_view(self, request: HttpRequest, pk: int, delivery_id: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        hook = self._editable(request, pk)
        item = get_object_or_404(hook.deliveries, pk=delivery_id)
        deliveries.redeliver(item)
        self.message_user(request, f"Delivery {item.event_id} queued again.", messages.SUCCESS)
        return self._back(hook)

    def redeliver_failed_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        hook = self._editable(request, pk)
        since = parse_datetime(request.POST.get("redeliver_since", ""))
        until = parse_datetime(request.POST.get("redeliver_until", ""))
        if since is None or until is None or since >= until:
            self.message_user(request, "Give a valid range: from before to.", messages.ERROR)
            return self._back(hook)
        utc = datetime.UTC
        count = deliveries.redeliver_failed(
            hook, since.replace(tzinfo=since.tzinfo or utc), until.replace(tzinfo=until.tzinfo or utc)
        )
        self.message_user(request, f"{count} failed deliveries queued again.", messages.SUCCESS)
        return self._back(hook)
