"""Provider credentials as people see them: the masked hint, the key-format message, assignment checks.

What routes a call to a provider (targets, the connection test, alias chains) is the AI gateway's:
`gateways/ai/services.py`. This module imports nothing of the gateway (the dependency runs one way).
"""

from __future__ import annotations

import re

from credentials.models import Credential

INVALID_KEY = "Invalid API key format"
_KNOWN_PREFIX = re.compile(r"^(sk-ant-|sk-or-|sk-|gsk_|AIza|tgp_v1_)")


def key_hint(api_key: str) -> str:
    """`sk-…a1b2`: the provider prefix and the last four characters, or nothing of a short key."""
    if not api_key:
        return ""
    if len(api_key) < 12:
        return "…"
    match = _KNOWN_PREFIX.match(api_key)
    return f"{match.group(1) if match else ''}…{api_key[-4:]}"


def assignment_error(provider: str, credential: Credential) -> str | None:
    """Why this credential cannot serve this provider (None when it can)."""
    if credential.provider != provider:
        return f"Credential {credential.name!r} is for {credential.provider}, not {provider}."
    return None
