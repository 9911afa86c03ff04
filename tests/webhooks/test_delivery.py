"""Deliveries to a real receiver, verified with the `standardwebhooks` package; retries on a fake clock."""

from __future__ import annotations

import json

import pytest
from standardwebhooks.webhooks import Webhook as Verifier
from standardwebhooks.webhooks import WebhookVerificationError

from audit import context
from audit.models import AuditLog
from projects import services as projects
from tests.webhooks.conftest import run_due
from tests.webhooks.receiver import Reply
from webhooks import delivery, services
from webhooks.models import Delivery, DeliveryStatus, Event

pytestmark = pytest.mark.django_db


def verified(secret: str, received) -> dict:
    return Verifier(secret).verify(received.body, received.headers)


def test_a_project_change_is_delivered_signed_per_the_spec(receiver, make_webhook, make_project):
    _hook, secret = make_webhook(project=None, events=["project.created"])
    project = make_project(name="Signed project")
    assert run_due() == 1
    [got] = receiver.wait_for_count(1)
    payload = verified(secret, got)  # a third party's verifier: headers, timestamp and HMAC
    assert payload["type"] == "project.created"
    assert payload["data"]["project"]["uuid"] == str(project.uuid)
    assert set(payload) == {"type", "timestamp", "data"}
    assert got.headers["webhook-id"].startswith("msg_")
    assert got.headers["webhook-signature"].startswith("v1,")
    with pytest.raises(WebhookVerificationError):
        verified(services.signing.generate_secret(), got)  # another secret does not verify
    tampered = type(got)(got.path, got.headers, got.body.replace(b"Signed", b"Forged"))
    with pytest.raises(WebhookVerificationError):
        verified(secret, tampered)


def test_the_event_is_written_in_the_transaction_of_the_change(make_webhook, make_project):
    make_webhook(events=["project.created"])
    with pytest.raises(RuntimeError), context.bind(actor=context.SYSTEM):
        from django.db import transaction

        with transaction.atomic():
            projects.create_project(name="Rolled back", project_type="api_gateway")
            assert Event.objects.filter(type="project.created").count() == 1
            raise RuntimeError("the change fails after the event was recorded")
    assert not Event.objects.filter(type="project.created").exists()
    assert not Delivery.objects.exists()


def test_every_project_and_token_event(receiver, make_webhook, make_project, make_token):
    project = make_project(name="Lifecycle")
    _hook, secret = make_webhook(project=project)
    _global_hook, global_secret = make_webhook(project=None, events=["project.deleted"])
    with context.bind(actor=context.SYSTEM):
        projects.update_project(project, {"description": "changed"})
        projects.set_active(project, False)
        projects.set_active(project, True)
        token, _ = make_token(project)
        projects.revoke_token(token)
        make_token(project, name="second")
        assert projects.revoke_all_tokens(project) == 1
    run_due()  # before the delete: the project's own webhook (and its deliveries) go with the project
    with context.bind(actor=context.SYSTEM):
        projects.delete_project(project, project.slug)
    run_due()
    got = receiver.wait_for_count(8)
    types = [json.loads(r.body)["type"] for r in got]
    assert types == [
        "project.updated",
        "project.deactivated",
        "project.activated",
        "token.created",
        "token.revoked",
        "token.created",
        "token.revoked",
        "project.deleted",
    ]
    by_type = {json.loads(r.body)["type"]: r for r in got}
    assert verified(global_secret, by_type["project.deleted"])["data"]["project"]["name"] == "Lifecycle"
    revoked = verified(secret, by_type["token.revoked"])["data"]["token"]
    assert revoked["prefix"] and "revoked_at" in revoked and "digest" not in revoked


def test_failures_follow_the_spec_schedule_with_jitter(receiver, make_webhook, make_project, fake_clock):
    make_webhook(events=["project.created"])
    receiver.default = Reply(500, body=b"down")
    make_project(name="Retried")
    [item] = Delivery.objects.all()
    waits = []
    for step in range(1, len(delivery.SCHEDULE)):
        assert run_due() == 1
        item.refresh_from_db()
        assert item.status == DeliveryStatus.PENDING
        wait = (item.next_attempt_at - fake_clock.at).total_seconds()
        waits.append(wait)
        nominal = delivery.SCHEDULE[step]
        assert nominal * 0.9 - 0.001 <= wait <= nominal * 1.1 + 0.001
        fake_clock.advance(wait - 0.5)
        assert run_due() == 0  # not due yet: nothing is sent early
        fake_clock.advance(0.5)
    assert run_due() == 1
    item.refresh_from_db()
    assert item.status == DeliveryStatus.FAILED and item.attempt_count == 10
    ids = {r.headers["webhook-id"] for r in receiver.wait_for_count(10)}
    assert len(ids) == 1  # the same webhook-id on every retry
    assert item.attempts.count() == 10 and item.attempts.first().response_excerpt == "down"


def test_retry_after_is_honoured_on_429_and_503(receiver, make_webhook, make_project, fake_clock):
    make_webhook(events=["project.created"])
    receiver.replies.extend([Reply(429, {"Retry-After": "120"}), Reply(503, {"Retry-After": "3600"})])
    make_project(name="Throttled")
    [item] = Delivery.objects.all()
    run_due()
    item.refresh_from_db()
    assert (item.next_attempt_at - fake_clock.at).total_seconds() == pytest.approx(120)  # not 5 s
    fake_clock.advance(120)
    run_due()
    item.refresh_from_db()
    assert (item.next_attempt_at - fake_clock.at).total_seconds() == pytest.approx(3600)  # not 5 min
    fake_clock.advance(3600)
    run_due()
    item.refresh_from_db()
    assert item.status == DeliveryStatus.SUCCEEDED


def test_410_disables_the_webhook_audits_and_announces(receiver, make_webhook, make_project):
    project = make_project(name="Gone")
    gone, _ = make_webhook(project=project, events=["token.created"])
    _other, other_secret = make_webhook(project=project, events=["webhook.disabled"])
    receiver.replies.append(Reply(410))
    with context.bind(actor=context.SYSTEM):
        projects.issue_token(project, name="t", scopes=["admin"])
    run_due()
    gone.refresh_from_db()
    assert not gone.enabled and "410" in gone.disabled_reason
    assert AuditLog.objects.filter(action="webhook_disable", object_id=str(gone.pk)).exists()
    run_due()
    announced = verified(other_secret, receiver.wait_for_count(2)[1])
    assert announced["type"] == "webhook.disabled" and announced["data"]["webhook"]["id"] == gone.pk
    assert "url" not in announced["data"]["webhook"]  # a receiver URL can carry its credential
    assert Delivery.objects.get(webhook=gone).status == DeliveryStatus.FAILED


def test_an_endpoint_failing_for_three_days_is_disabled(receiver, make_webhook, make_project, fake_clock):
    project = make_project(name="Flaky")
    hook, _ = make_webhook(project=project, events=["token.created"])
    receiver.default = Reply(500)
    with context.bind(actor=context.SYSTEM):
        projects.issue_token(project, name="t", scopes=["admin"])
    for _ in range(8):  # 0 s .. 14 h of retries: about 1.3 days
        run_due()
        fake_clock.advance(86400)
        hook.refresh_from_db()
        if not hook.enabled:
            break
    assert not hook.enabled and "3 days" in hook.disabled_reason
    assert AuditLog.objects.filter(action="webhook_disable", object_id=str(hook.pk)).exists()


def test_success_resets_the_failing_streak(receiver, make_webhook, make_project, fake_clock):
    hook, _ = make_webhook(events=["project.created"])
    receiver.replies.append(Reply(500))
    make_project(name="Recovering")
    run_due()
    hook.refresh_from_db()
    assert hook.failing_since is not None
    fake_clock.advance(10)
    run_due()
    hook.refresh_from_db()
    assert hook.failing_since is None and hook.enabled


def test_rotation_signs_with_both_secrets_for_24_hours(receiver, make_webhook, make_project, fake_clock):
    hook, old = make_webhook(events=["project.created"])
    with context.bind(actor=context.SYSTEM):
        hook, new = services.rotate_secret(hook)
    assert new != old and new.startswith("whsec_")
    make_project(name="Rotated")
    run_due()
    [got] = receiver.wait_for_count(1)
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    assert verified(old, got)["type"] == "project.created"
    assert verified(new, got)["type"] == "project.created"
    fake_clock.advance(86401)
    make_project(name="After the overlap")
    run_due()
    later = receiver.wait_for_count(2)[1]
    verified(new, later)
    with pytest.raises(WebhookVerificationError):
        verified(old, later)
    assert AuditLog.objects.filter(action="webhook_rotate_secret").exists()


def test_redelivery_sends_again_with_the_same_id(receiver, make_webhook, make_project):
    _hook, secret = make_webhook(events=["project.created"])
    make_project(name="Redelivered")
    run_due()
    [item] = Delivery.objects.all()
    delivery.redeliver(item)
    run_due()
    first, second = receiver.wait_for_count(2)
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert verified(secret, second)["type"] == "project.created"
    assert item.attempts.count() == 2


def test_nothing_is_written_when_nobody_listens(make_project, make_webhook):
    make_webhook(events=["token.created"])
    make_project(name="Unheard")
    assert not Event.objects.exists() and not Delivery.objects.exists()
