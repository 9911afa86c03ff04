"""Management API for webhooks: secret shown once, masked after; roles; SSRF at save; actions."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient
from standardwebhooks.webhooks import Webhook as Verifier

from projects.models import Role
from tests.projects.api.conftest import BASE
from tests.webhooks.conftest import run_due
from tests.webhooks.receiver import Reply
from webhooks.models import Delivery, DeliveryStatus, Webhook

pytestmark = pytest.mark.django_db


def hooks_url(project=None, tail: str = "") -> str:
    if project is None:
        return f"{BASE}/webhooks/{tail}"
    return f"{BASE}/projects/{project.uuid}/webhooks/{tail}"


@pytest.fixture
def root(client_for, admin_user) -> APIClient:
    return client_for(admin_user)


def create(client, project, receiver, **body):
    body = {"url": receiver.url(), "events": ["*"], **body}
    return client.post(hooks_url(project), body, format="json")


def test_create_shows_the_secret_once_then_masks_it(root, project, receiver):
    response = create(root, project, receiver, description="ops")
    assert response.status_code == 201, response.content
    body = response.json()
    secret = body["secret"]
    assert secret.startswith("whsec_") and len(secret) > 40
    shown = root.get(hooks_url(project, f"{body['id']}/")).json()
    assert shown["secret"] == f"whsec_…{secret[-4:]}"
    assert secret not in root.get(hooks_url(project)).content.decode()
    with connection.cursor() as cursor:  # encrypted at rest, not the plaintext nor a digest
        cursor.execute("SELECT secret FROM webhooks_webhook WHERE id = %s", [body["id"]])
        stored = cursor.fetchone()[0]
    assert secret not in stored and Webhook.objects.get(pk=body["id"]).secret == secret


def test_bad_input_is_a_clear_error(root, project, receiver):
    response = create(root, project, receiver, events=["nope.event"])
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert "events" in response.json()["error"]["fields"]
    response = create(root, project, receiver, secret="whsec_mine")
    assert response.status_code == 400


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://0x7f000001/hook",
        "http://metadata.google.internal/",
        "http://user:pw@example.com/",
        "ftp://example.com/",
    ],
)
def test_ssrf_refused_at_save(root, project, receiver, url, settings):
    settings.PROMPTGATE_SSRF_ALLOW = []
    response = create(root, project, receiver, url=url)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] in ("ssrf_blocked", "validation_error")
    assert "10.0.0.5" not in error["message"] or "private" in error["message"]


def test_roles_admins_manage_others_cannot_see(client_for, make_user, project, receiver):
    admin = client_for(make_user("adm", project, Role.ADMIN))
    developer = client_for(make_user("dev", project, Role.DEVELOPER))
    outsider = client_for(make_user("out"))
    assert create(admin, project, receiver).status_code == 201
    assert create(developer, project, receiver).status_code == 403
    assert developer.get(hooks_url(project)).status_code == 403
    assert outsider.get(hooks_url(project)).status_code == 404
    assert admin.get(hooks_url()).status_code == 403  # global webhooks: superusers only


def test_global_webhooks_are_for_superusers(root, receiver, make_project):
    response = root.post(hooks_url(), {"url": receiver.url(), "events": ["project.created"]}, format="json")
    assert response.status_code == 201
    secret = response.json()["secret"]
    make_project(name="Seen globally")
    run_due()
    [got] = receiver.wait_for_count(1)
    assert Verifier(secret).verify(got.body, got.headers)["data"]["project"]["name"] == "Seen globally"


def test_test_action_sends_now_and_answers_the_attempt(root, project, receiver):
    body = create(root, project, receiver).json()
    receiver.default = Reply(202, body=b"x" * 5000)
    response = root.post(hooks_url(project, f"{body['id']}/test/"))
    assert response.status_code == 200, response.content
    attempt = response.json()
    assert attempt["status_code"] == 202 and attempt["succeeded"]
    assert len(attempt["response_excerpt"]) == 1024  # bounded to 1 KB
    [got] = receiver.wait_for_count(1)
    assert Verifier(body["secret"]).verify(got.body, got.headers)["type"] == "webhook.test"


def test_rotate_secret_answers_the_new_secret_once(root, project, receiver):
    body = create(root, project, receiver).json()
    rotated = root.post(hooks_url(project, f"{body['id']}/rotate-secret/")).json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != body["secret"]
    assert rotated["previous_secret_expires_at"]
    root.post(hooks_url(project, f"{body['id']}/test/"))
    [got] = receiver.wait_for_count(1)
    Verifier(body["secret"]).verify(got.body, got.headers)
    Verifier(rotated["secret"]).verify(got.body, got.headers)


def test_deliveries_log_and_redelivery(root, project, receiver, make_token):
    body = create(root, project, receiver, events=["token.created"]).json()
    receiver.default = Reply(500, body=b"broken")
    make_token(project, name="one")
    make_token(project, name="two")
    run_due()
    log = root.get(hooks_url(project, f"{body['id']}/deliveries/")).json()
    assert log["count"] == 2
    first = log["results"][0]
    assert first["event_type"] == "token.created" and first["status"] == "pending"
    assert first["attempts"][0]["status_code"] == 500 and first["attempts"][0]["response_excerpt"] == "broken"
    Delivery.objects.update(status=DeliveryStatus.FAILED)
    receiver.default = Reply(200)
    one = root.post(hooks_url(project, f"{body['id']}/deliveries/{first['id']}/redeliver/"))
    assert one.status_code == 200 and one.json()["status"] == "pending"
    run_due()
    assert Delivery.objects.get(pk=first["id"]).status == DeliveryStatus.SUCCEEDED
    now = timezone.now()
    window = {"since": (now - datetime.timedelta(hours=1)).isoformat(), "until": now.isoformat()}
    many = root.post(hooks_url(project, f"{body['id']}/redeliver-failed/"), window, format="json")
    assert many.json() == {"redelivered": 1}
    run_due()
    assert not Delivery.objects.exclude(status=DeliveryStatus.SUCCEEDED).exists()
    empty = {"since": now.isoformat(), "until": (now - datetime.timedelta(hours=1)).isoformat()}
    bad = root.post(hooks_url(project, f"{body['id']}/redeliver-failed/"), empty, format="json")
    assert bad.status_code == 400
    missing = root.post(hooks_url(project, f"{body['id']}/deliveries/999999/redeliver/"))
    assert missing.status_code == 404 and missing.json()["error"]["code"]


@pytest.mark.django_db(transaction=True)
def test_the_test_action_holds_no_transaction_while_it_waits(root, project, receiver, make_project):
    import threading

    body = create(root, project, receiver).json()
    hold = threading.Event()
    receiver.replies.append(Reply(200, hold=hold))
    answers = []
    caller = threading.Thread(
        target=lambda: answers.append(root.post(hooks_url(project, f"{body['id']}/test/")))
    )
    caller.start()
    try:
        receiver.wait_for_count(1)
        make_project(name="Written meanwhile")  # on SQLite this would wait for a request-long transaction
        assert caller.is_alive() and not answers  # ...and the receiver still holds the test POST
    finally:
        hold.set()
        caller.join(30)
    assert answers[0].status_code == 200 and answers[0].json()["succeeded"]
