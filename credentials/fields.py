"""EncryptedTextField: the one model field every secret in PromptGate is stored in."""

from __future__ import annotations

from typing import Any

from django.db import models

from credentials import crypto


class EncryptedTextField(models.TextField):
    """Holds plaintext in Python, Fernet ciphertext in the database.

    Lookups other than isnull are meaningless on ciphertext, so only use it for values you read back.
    Audit snapshots and every display mask these fields (see `audit.snapshots`).
    """

    encrypted = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        super().__init__(*args, **kwargs)

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if value is None or value == "":
            return value
        return crypto.decrypt(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return crypto.encrypt(str(value))
