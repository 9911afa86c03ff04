"""API token format: `pg_live_`/`pg_test_` + 32 base62 chars + a 6-char base62 CRC32 checksum.

The checksum lets secret scanners (and us, before any lookup) recognise a real token offline. Only an
HMAC-SHA256 digest is stored; the plaintext exists once, in the response that issued it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import zlib
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
BODY_LENGTH = 32
CHECKSUM_LENGTH = 6
PREFIXES = ("pg_live_", "pg_test_")
TOKEN_LENGTH = len(PREFIXES[0]) + BODY_LENGTH + CHECKSUM_LENGTH
DISPLAY_PREFIX_LENGTH = len(PREFIXES[0]) + 6


@dataclass(frozen=True)
class IssuedToken:
    plaintext: str
    digest: str
    prefix: str


def _base62(number: int, width: int) -> str:
    chars = []
    while number:
        number, rem = divmod(number, 62)
        chars.append(ALPHABET[rem])
    return "".join(reversed(chars)).rjust(width, "0")


def checksum(head: str) -> str:
    return _base62(zlib.crc32(head.encode()), CHECKSUM_LENGTH)


def kind_for_env(env: str) -> str:
    """Tokens of dev projects are test tokens; staging and prod get live tokens."""
    return "pg_test_" if env == "dev" else "pg_live_"


def generate(env: str) -> IssuedToken:
    head = kind_for_env(env) + "".join(secrets.choice(ALPHABET) for _ in range(BODY_LENGTH))
    plaintext = head + checksum(head)
    return IssuedToken(plaintext=plaintext, digest=digest(plaintext), prefix=display_prefix(plaintext))


def is_well_formed(candidate: str) -> bool:
    """Cheap offline check: right prefix, length, alphabet and checksum. No lookup needed."""
    if len(candidate) != TOKEN_LENGTH or not candidate.startswith(PREFIXES):
        return False
    head, check = candidate[:-CHECKSUM_LENGTH], candidate[-CHECKSUM_LENGTH:]
    body = head[len(PREFIXES[0]) :]
    if any(c not in ALPHABET for c in body):
        return False
    return hmac.compare_digest(check, checksum(head))


@lru_cache(maxsize=1)
def _hmac_key() -> bytes:
    # A key derived from SECRET_KEY for this one purpose (rotating SECRET_KEY invalidates tokens).
    return hashlib.sha256(b"promptgate.api-token:" + settings.SECRET_KEY.encode()).digest()


def digest(plaintext: str) -> str:
    return hmac.new(_hmac_key(), plaintext.encode(), hashlib.sha256).hexdigest()


def display_prefix(plaintext: str) -> str:
    return plaintext[:DISPLAY_PREFIX_LENGTH]
