"""Admin console for webhooks: secret shown once, delivery log with redelivery, test, rotate, roles."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from standardwebhooks.webhooks import Webhook as Verifier

from projects.models import Role
from tests.webhooks.conftest import run_due
from tests.webhooks.receiver import Reply
from webhooks.models import Delivery, DeliveryStatus, Webhook

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def test_add_shows_the_secret_once(root, project, receiver):
    response = root.post(
        reverse("admin:webhooks_webhook_add"),
        {"project": project.pk, "url": receiver.url(), "events": ["token.created"], "enabled": "on"},
    )
    assert response.status_code == 200, response.content[:2000]
    hook = Webhook.objects.get()
    assert hook.secret in response.content.decode() and "no-store" in response["Cache-Control"]
    page = root.get(reverse("admin:webhooks_webhook_change", args=[hook.pk])).content.decode()
    assert hook.secret not in page and f"whsec_…{hook.secret[-4:]}" in page


def test_ssrf_refused_in_the_form(root, project, settings):
    settings.PROMPTGATE_SSRF_ALLOW = []
    response = root.post(
        reverse("admin:webhooks_webhook_add"),
        {"project": project.pk, "url": "http://10.1.2.3/x", "events": ["*"], "enabled": "on"},
    )
    assert response.status_code == 200 and not Webhook.objects.exists()
    assert "private" in response.content.decode()


def test_log_test_rotate_and_redeliver(root, project, receiver, make_webhook, make_token):
    hook, secret = make_webhook(project=project, events=["token.created"])
    receiver.default = Reply(500, body=b"nope")
    make_token(project)
    run_due()
    change = reverse("admin:webhooks_webhook_change", args=[hook.pk])
    page = root.get(change).content.decode()
    assert "token.created" in page and "nope" in page and "pending" in page
    item = Delivery.objects.get()
    receiver.default = Reply(200)
    response = root.post(reverse("admin:webhooks_webhook_redeliver", args=[hook.pk, item.pk]))
    assert response.status_code == 302
    run_due()
    item.refresh_from_db()
    assert item.status == DeliveryStatus.SUCCEEDED
    response = root.post(reverse("admin:webhooks_webhook_test", args=[hook.pk]), follow=True)
    assert "Test event: 200" in response.content.decode()
    rotated = root.post(reverse("admin:webhooks_webhook_rotate", args=[hook.pk]))
    hook.refresh_from_db()
    assert hook.secret in rotated.content.decode() and hook.secret != secret
    root.post(reverse("admin:webhooks_webhook_test", args=[hook.pk]))
    last = receiver.requests[-1]
    Verifier(secret).verify(last.body, last.headers)
    Verifier(hook.secret).verify(last.body, last.headers)


def test_disabled_banner_and_global_webhooks_for_superusers_only(
    root, project, make_webhook, make_user, receiver
):
    hook, _ = make_webhook(project=project)
    Webhook.objects.filter(pk=hook.pk).update(enabled=False, disabled_reason="the endpoint answered 410 Gone")
    page = root.get(reverse("admin:webhooks_webhook_change", args=[hook.pk]), follow=True).content.decode()
    assert "This webhook was disabled: the endpoint answered 410 Gone" in page
    global_hook, _ = make_webhook(project=None)
    staff = make_user("projadmin", project, Role.ADMIN)
    staff.is_staff = True
    staff.save()
    client = Client()
    client.force_login(staff)
    listing = client.get(reverse("admin:webhooks_webhook_changelist")).content.decode()
    assert f"/{hook.pk}/change/" in listing and f"/{global_hook.pk}/change/" not in listing
    response = client.get(reverse("admin:webhooks_webhook_change", args=[global_hook.pk]))
    assert response.status_code == 302
