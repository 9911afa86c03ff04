"""Encryption of secrets at rest: one MultiFernet built from PROMPTGATE_ENCRYPTION_KEYS."""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class DecryptionError(Exception):
    """A stored value could not be decrypted with any configured key (wrong or missing key)."""


@lru_cache(maxsize=4)
def _fernets(keys: tuple[str, ...]) -> tuple[MultiFernet, Fernet]:
    primary = Fernet(keys[0])
    return MultiFernet([primary, *(Fernet(k) for k in keys[1:])]), primary


def _keys() -> tuple[MultiFernet, Fernet]:
    return _fernets(tuple(settings.PROMPTGATE_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return _keys()[0].encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    try:
        return _keys()[0].decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError("stored secret cannot be decrypted with the configured keys") from exc


def is_current(ciphertext: str) -> bool:
    """True when the value is already encrypted under the newest (first) key."""
    try:
        _keys()[1].decrypt(ciphertext.encode())
    except InvalidToken:
        return False
    return True


def rotate(ciphertext: str) -> str:
    """Re-encrypt a value under the newest key (it must decrypt under one of the keys)."""
    try:
        return _keys()[0].rotate(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError("stored secret cannot be decrypted with the configured keys") from exc
