"""rotate_encryption_key: every encrypted value moves to the newest key, in batches, resumably, audited."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings

from audit.models import AuditLog
from credentials import crypto, rotation
from tests.credentials.models_for_tests import PROBE_TABLE

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()
KEY_C = Fernet.generate_key().decode()


def raw_rows() -> list[tuple[int, str | None, str | None]]:
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, secret, other FROM {qn(PROBE_TABLE)} ORDER BY id")
        return cursor.fetchall()


def seed(model, count: int = 7, key: str = KEY_A) -> dict[int, tuple[str, str | None]]:
    """Rows encrypted under `key`; some with a NULL or empty second secret. Returns pk -> plaintexts."""
    expected = {}
    with override_settings(PROMPTGATE_ENCRYPTION_KEYS=[key]):
        for i in range(count):
            other = None if i % 3 == 0 else ("" if i % 3 == 1 else f"other-{i}")
            obj = model.objects.create(name=f"n{i}", secret=f"secret-{i}", other=other)
            expected[obj.pk] = (f"secret-{i}", other)
    return expected


def decrypt_with(key: str, value: str) -> str:
    return Fernet(key).decrypt(value.encode()).decode()


def rotate(*args: str) -> str:
    out = StringIO()
    with override_settings(PROMPTGATE_ENCRYPTION_KEYS=[KEY_B, KEY_A]):
        call_command("rotate_encryption_key", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_discovery_finds_every_encrypted_field(probe_model):
    found = {
        model._meta.label_lower: [f.name for f in fields] for model, fields in rotation.encrypted_fields()
    }
    assert found["credentials.rotationprobe"] == ["secret", "other"]


def test_rotation_moves_every_value_to_the_newest_key(probe_model):
    expected = seed(probe_model)
    before = raw_rows()
    out = rotate("--batch-size", "3")

    for pk, secret, other in raw_rows():
        assert decrypt_with(KEY_B, secret) == expected[pk][0]
        with pytest.raises(InvalidToken):
            Fernet(KEY_A).decrypt(secret.encode())
        if expected[pk][1]:
            assert decrypt_with(KEY_B, other) == expected[pk][1]
        else:
            assert other == expected[pk][1]  # NULL and "" stay as they are
    assert [r[0] for r in before] == [r[0] for r in raw_rows()]

    # The ORM reads them back with the new key alone (the old one can be dropped).
    with override_settings(PROMPTGATE_ENCRYPTION_KEYS=[KEY_B]):
        assert {o.pk: o.secret for o in probe_model.objects.all()} == {pk: v[0] for pk, v in expected.items()}

    rotated = 7 + 2  # seven secrets, two non-empty "other" values
    assert f"rotated {rotated}" in out
    row = AuditLog.objects.get(action="key_rotation")
    assert row.actor_type == "system"
    counts = row.extra["models"]["credentials.rotationprobe"]
    assert counts["rotated"] == rotated
    assert counts["undecryptable"] == 0
    dumped = json.dumps(row.extra) + json.dumps(row.before) + json.dumps(row.after) + out
    for secret in (KEY_A, KEY_B, "secret-1"):
        assert secret not in dumped


def test_second_run_is_a_no_op(probe_model):
    seed(probe_model)
    rotate()
    after_first = raw_rows()
    out = rotate()
    assert raw_rows() == after_first
    assert "rotated 0" in out
    latest = AuditLog.objects.filter(action="key_rotation").order_by("-id").first()
    assert latest.extra["models"]["credentials.rotationprobe"]["rotated"] == 0
    assert latest.extra["models"]["credentials.rotationprobe"]["current"] == 9


def test_dry_run_changes_nothing(probe_model):
    seed(probe_model)
    before = raw_rows()
    audit_count = AuditLog.objects.count()
    out = rotate("--dry-run")
    assert "would rotate 9" in out
    assert raw_rows() == before
    assert AuditLog.objects.count() == audit_count


def test_interrupted_run_resumes_by_running_again(probe_model, monkeypatch):
    expected = seed(probe_model, count=6)
    real_rotate = crypto.rotate
    calls = {"n": 0}

    def failing_rotate(value: str) -> str:
        calls["n"] += 1
        if calls["n"] == 5:
            raise RuntimeError("simulated crash")
        return real_rotate(value)

    monkeypatch.setattr(crypto, "rotate", failing_rotate)
    with pytest.raises(RuntimeError):
        rotate("--batch-size", "2")
    monkeypatch.setattr(crypto, "rotate", real_rotate)

    with override_settings(PROMPTGATE_ENCRYPTION_KEYS=[KEY_B, KEY_A]):
        state = [crypto.is_current(secret) for _, secret, _ in raw_rows()]
    # Batch 1 (rows 1-2) committed; batch 2 crashed on its second value and rolled back.
    assert state == [True, True, False, False, False, False]
    assert not AuditLog.objects.filter(action="key_rotation").exists()

    rotate("--batch-size", "2")
    for pk, secret, _ in raw_rows():
        assert decrypt_with(KEY_B, secret) == expected[pk][0]


def test_undecryptable_values_are_reported_and_left_untouched(probe_model):
    seed(probe_model, count=3)
    stray = seed(probe_model, count=1, key=KEY_C)
    stray_pk = next(iter(stray))
    stray_before = next(r for r in raw_rows() if r[0] == stray_pk)

    err = StringIO()
    with override_settings(PROMPTGATE_ENCRYPTION_KEYS=[KEY_B, KEY_A]):
        with pytest.raises(CommandError, match="cannot be decrypted"):
            call_command("rotate_encryption_key", stdout=StringIO(), stderr=err)

    assert f"pk={stray_pk} field=secret" in err.getvalue()
    assert KEY_C not in err.getvalue()
    rows = {r[0]: r for r in raw_rows()}
    assert rows[stray_pk] == stray_before
    assert all(decrypt_with(KEY_B, r[1]) for pk, r in rows.items() if pk != stray_pk)
    row = AuditLog.objects.get(action="key_rotation")
    assert row.extra["undecryptable"] == 1


def test_batch_size_must_be_positive(db):
    with pytest.raises(CommandError):
        call_command("rotate_encryption_key", "--batch-size", "0", stdout=StringIO())
