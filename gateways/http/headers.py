"""Header policies of the API gateway: what goes upstream, what comes back."""

from __future__ import annotations

from collections.abc import Sequence

from gateways.http.config import EndpointInfo
from gateways.http.models import ALWAYS_BLOCKED

# Response headers never passed back: hop-by-hop ones, plus cookies the upstream tries to set on
# the gateway's origin.
RESPONSE_BLOCKED = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "set-cookie",
    }
)
# The body's own description always travels with it, even under a strict allowlist.
BODY_HEADERS = frozenset({"content-type", "content-encoding"})


def _connection_listed(headers: Sequence[tuple[bytes, bytes]]) -> set[str]:
    """Names listed in `Connection:` are hop-by-hop too (stops `Connection: X-Secret` smuggling)."""
    listed: set[str] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            listed.update(
                token.strip().lower() for token in value.decode("latin-1").split(",") if token.strip()
            )
    return listed


def request_headers(
    raw: list[tuple[bytes, bytes]], endpoint: EndpointInfo, request_id: str
) -> list[tuple[str, str]]:
    dropped = ALWAYS_BLOCKED | endpoint.blocked_headers | _connection_listed(raw)
    if endpoint.inject_headers:
        # An injected header replaces the client's copy, whatever the case of either name (the client
        # cannot forge it nor add a second value).
        dropped = dropped | {name.lower() for name, _ in endpoint.inject_headers}
    out: list[tuple[str, str]] = []
    for raw_name, raw_value in raw:
        name = raw_name.decode("latin-1").lower()
        if name in dropped or name.startswith("x-promptgate-"):
            continue
        if endpoint.forward_headers and name not in endpoint.forward_headers and name not in BODY_HEADERS:
            continue
        value = raw_value.decode("latin-1")
        if "\r" in value or "\n" in value:  # servers reject these already; never forward one
            continue
        out.append((name, value))
    out.extend((name, value) for name, value in endpoint.inject_headers)
    out.append(("x-request-id", request_id))
    return out


def response_headers(raw: Sequence[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    dropped = RESPONSE_BLOCKED | _connection_listed(raw)
    return [(name, value) for name, value in raw if name.decode("latin-1").lower() not in dropped]
