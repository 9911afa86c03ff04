"""backup / restore: a full round trip through an emptied database, without plaintext in the file."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth.models import Group, Permission
from django.core import serializers
from django.core.management import CommandError, call_command
from django.test import override_settings
from oauth2_provider.models import Application

from audit import backup, context
from audit.models import AuditLog
from projects import services
from projects.models import ApiToken, Project, Role

pytestmark = pytest.mark.django_db(transaction=True)


def everything() -> list[dict]:
    rows = []
    for model in backup.backup_models():
        queryset = model._base_manager.order_by("pk")
        rows.extend(serializers.serialize("python", queryset, use_natural_foreign_keys=True))
    return rows


def without_actions(rows: list[dict], *actions: str) -> list[dict]:
    return [r for r in rows if not (r["model"] == "audit.auditlog" and r["fields"]["action"] in actions)]


@pytest.fixture
def populated(make_project, make_user, admin_user, probe_model):
    """A bit of everything: projects, members, live and revoked tokens, groups, API clients, secrets."""
    alpha = make_project("Alpha", metadata={"team": "core"})
    beta = make_project("Beta", project_type="ai_gateway", env="prod")
    dev = make_user("dev", project=alpha, role=Role.DEVELOPER)
    dev.user_permissions.add(Permission.objects.get(codename="view_project"))
    group = Group.objects.create(name="operators")
    dev.groups.add(group)
    plaintexts = []
    with context.bind(actor=context.actor_for_user(admin_user)):
        for project in (alpha, beta):
            token, plaintext = services.issue_token(project, name="ci", scopes=["ai", "admin"])
            plaintexts.append(plaintext)
        services.revoke_token(token)
        services.set_active(beta, False)
    Application.objects.create(
        name="automation",
        user=admin_user,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        client_secret="plain-client-secret-123",
    )
    probe_model.objects.create(name="p1", secret="probe-secret-one", other="probe-secret-two")
    probe_model.objects.create(name="p2", secret="")
    return {
        "tokens": plaintexts,
        "secrets": ["probe-secret-one", "probe-secret-two", "plain-client-secret-123"],
    }


def test_backup_flush_restore_gives_back_the_same_data(populated, tmp_path, probe_model):
    before = everything()
    assert {r["model"] for r in before} >= {
        "auth.user",
        "auth.group",
        "projects.project",
        "projects.membership",
        "projects.apitoken",
        "audit.auditlog",
        "oauth2_provider.application",
        "credentials.rotationprobe",
    }
    path = tmp_path / "backup.json"
    out = StringIO()
    call_command("backup", str(path), stdout=out)
    assert "Backed up" in out.getvalue()
    assert oct(path.stat().st_mode & 0o777) == "0o600"

    text = path.read_text()
    for secret in populated["tokens"] + populated["secrets"]:
        assert secret not in text
    data = json.loads(text)
    assert data["format"] == "promptgate-backup"
    assert data["encrypted_fields"]["credentials.rotationprobe"] == ["secret", "other"]
    probe = next(o for o in data["objects"] if o["model"] == "credentials.rotationprobe")
    assert backup.crypto.decrypt(probe["fields"]["secret"]) == "probe-secret-one"
    backup_row = AuditLog.objects.get(action="backup")
    assert backup_row.actor_type == "system"
    assert backup_row.extra["counts"]["projects.project"] == 2

    call_command("flush", "--noinput")
    assert backup.is_empty()

    call_command("restore", str(path), stdout=StringIO())
    after = everything()
    assert without_actions(after, "restore") == before
    restored = AuditLog.objects.get(action="restore")
    assert restored.extra["counts"]["projects.apitoken"] == 2
    assert restored.extra["file"] == "backup.json"

    # Restored rows work: secrets decrypt once (not double-encrypted), tokens still authenticate
    # by digest, and new rows get fresh ids past the restored ones.
    assert probe_model.objects.get(name="p1").secret == "probe-secret-one"
    digests = set(ApiToken.objects.values_list("digest", flat=True))
    assert {services.tokens.digest(t) for t in populated["tokens"]} == digests
    fresh = services.create_project(name="Gamma", project_type="mcp_gateway")
    assert fresh.pk > max(Project.objects.exclude(pk=fresh.pk).values_list("pk", flat=True))


def test_restore_refuses_a_database_with_data_unless_forced(populated, tmp_path):
    path = tmp_path / "backup.json"
    call_command("backup", str(path), stdout=StringIO())
    audit_rows = AuditLog.objects.count()
    with pytest.raises(CommandError, match="already holds data"):
        call_command("restore", str(path), stdout=StringIO())
    assert AuditLog.objects.count() == audit_rows

    call_command("restore", str(path), "--force", stdout=StringIO())
    # Same rows overwritten in place; existing audit rows kept, not duplicated; one restore row added.
    assert Project.objects.count() == 2
    assert AuditLog.objects.count() == audit_rows + 1


def test_restore_needs_the_same_keys_and_is_all_or_nothing(populated, tmp_path):
    path = tmp_path / "backup.json"
    call_command("backup", str(path), stdout=StringIO())
    call_command("flush", "--noinput")
    with override_settings(PROMPTGATE_ENCRYPTION_KEYS=[Fernet.generate_key().decode()]):
        with pytest.raises(CommandError, match="cannot decrypt"):
            call_command("restore", str(path), stdout=StringIO())
    assert backup.is_empty()
    assert not AuditLog.objects.filter(action="restore").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not a JSON file"),
        ('[{"model": "projects.project", "pk": 1, "fields": {}}]', "not a PromptGate backup"),
        ('{"format": "promptgate-backup", "version": 99, "objects": []}', "unsupported backup version"),
        (
            '{"format": "promptgate-backup", "version": 1, "objects": '
            '[{"model": "oauth2_provider.accesstoken", "pk": 1, "fields": {"token": "x"}}]}',
            "never contains",
        ),
    ],
)
def test_restore_rejects_files_that_are_not_backups(db, tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(CommandError, match=message):
        call_command("restore", str(path), stdout=StringIO())
    assert backup.is_empty()


def test_restore_of_a_missing_file_is_a_clear_error(db, tmp_path):
    with pytest.raises(CommandError, match="cannot read"):
        call_command("restore", str(tmp_path / "nope.json"), stdout=StringIO())


def test_responses_api_conversation_state_stays_out_of_backups(make_project, tmp_path):
    """StoredResponse rows (previous_response_id state, TTL-bounded, users' conversations) are not
    configuration: a backup leaves them out, and a restore gives back the project without them."""
    import datetime

    from django.utils import timezone

    from gateways.ai.models import StoredResponse

    project = make_project("Chatty", project_type="ai_gateway")
    now = timezone.now()
    stored = StoredResponse(
        project=project,
        response_id="resp_kept_out",
        data={"response": {"id": "resp_kept_out"}, "input": [{"content": "my private question"}]},
        created_at=now,
        expires_at=now + datetime.timedelta(hours=1),
    )
    StoredResponse.objects.bulk_create([stored])  # as the response store writes (no signals, no audit)
    assert StoredResponse not in backup.backup_models()
    path = tmp_path / "backup.json"
    call_command("backup", str(path), stdout=StringIO())
    text = path.read_text()
    assert "my private question" not in text and "resp_kept_out" not in text
    assert "ai.storedresponse" not in {o["model"] for o in json.loads(text)["objects"]}

    call_command("flush", "--noinput")
    call_command("restore", str(path), stdout=StringIO())
    assert Project.objects.filter(uuid=project.uuid).exists()
    assert not StoredResponse.objects.exists()
