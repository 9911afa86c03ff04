"""Settings of the MCP gateway, from Django settings or the environment, with defaults."""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings


def _raw(name: str) -> Any:
    value = getattr(settings, name, None)
    return value if value is not None else os.environ.get(name)


def max_message_bytes() -> int:
    """Largest JSON-RPC message (or batch) accepted on POST; larger ones answer 413."""
    return int(_raw("PROMPTGATE_MCP_MAX_MESSAGE_BYTES") or 1024 * 1024)


def session_ttl_seconds() -> int:
    """A gateway session unused this long is gone (404, the client initializes again)."""
    return int(_raw("PROMPTGATE_MCP_SESSION_TTL_SECONDS") or 3600)


def list_cache_seconds() -> float:
    """How long an upstream's list pages are reused (config changes drop them at once)."""
    return float(_raw("PROMPTGATE_MCP_LIST_CACHE_SECONDS") or 30)


def list_max_items() -> int:
    """Most items one list answer holds before the gateway pages with its own cursor."""
    return max(1, int(_raw("PROMPTGATE_MCP_LIST_MAX_ITEMS") or 1000))


def allowed_origins() -> frozenset[str]:
    """Browser origins allowed besides the gateway's own host (comma-separated in the environment)."""
    raw = _raw("PROMPTGATE_MCP_ALLOWED_ORIGINS") or ()
    items = raw.split(",") if isinstance(raw, str) else raw
    return frozenset(item.strip().rstrip("/").lower() for item in items if item.strip())
