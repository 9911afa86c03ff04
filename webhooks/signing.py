"""Standard Webhooks signing: `whsec_` secrets and `webhook-signature: v1,<base64 HMAC-SHA256>` headers.

The signed content is `{webhook-id}.{webhook-timestamp}.{body}`, keyed by the secret's base64-decoded
bytes (https://www.standardwebhooks.com/). During a rotation the old and the new secret both sign and
the header carries both signatures, space-separated, as the spec allows: receivers on either verify.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable

PREFIX = "whsec_"
SECRET_BYTES = 32


def generate_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secrets_: Iterable[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers, signed by every given secret."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(s, msg_id, timestamp, body) for s in secrets_ if s),
    }


def mask(secret: str) -> str:
    """The secret as shown after creation: its prefix and last four characters."""
    return f"{PREFIX}…{secret[-4:]}" if secret else ""
