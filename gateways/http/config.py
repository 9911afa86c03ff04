"""Cached, immutable snapshots of ApiEndpoints for the proxy, and the introspection listing."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from gateways.common import ssrf
from gateways.http.models import ApiEndpoint


@dataclass(frozen=True, slots=True)
class EndpointInfo:
    id: int
    slug: str
    upstream_url: str
    allowed_methods: frozenset[str]
    forward_headers: frozenset[str]  # empty: every non-blocked header
    blocked_headers: frozenset[str]
    inject_headers: tuple[tuple[str, str], ...]  # decrypted, in memory only
    timeout_seconds: float
    strip_path_prefix: str
    preserve_query: bool
    rate_limit_per_minute: int | None
    rate_limit_per_hour: int | None
    rate_limit_per_token: bool
    max_body_bytes: int | None
    enabled: bool
    oauth_connection_id: int | None = None  # the OAuth connection whose token goes upstream


def canonical_upstream(url: str) -> str:
    """The URL with a numeric host (decimal, octal, hex, short IPv4) written as the address it means.

    The HTTP client would otherwise refuse some forms or read others differently from the SSRF guard;
    rows written past validation (which refuses these forms) then still reach only checked addresses.
    """
    parts = urlsplit(url)
    try:
        host, port = parts.hostname, parts.port
        normal = ssrf.normalise_host(host) if host else None
    except (ValueError, ssrf.SsrfBlocked):
        return url  # left as is: the request-time guard refuses it with a clear error
    if not normal or normal == host:
        return url
    try:
        literal = ipaddress.ip_address(normal)
    except ValueError:
        return url  # a name: the resolver checks it
    netloc = f"[{literal}]" if literal.version == 6 else str(literal)
    return urlunsplit(parts._replace(netloc=f"{netloc}:{port}" if port else netloc))


def load_endpoint(project_id: int, slug: str) -> EndpointInfo | None:
    row = ApiEndpoint.objects.filter(project_id=project_id, slug=slug).first()
    if row is None:
        return None
    return EndpointInfo(
        id=row.id,
        slug=row.slug,
        upstream_url=canonical_upstream(row.upstream_url),
        allowed_methods=frozenset(row.allowed_methods),
        forward_headers=frozenset(h.lower() for h in row.forward_headers),
        blocked_headers=frozenset(h.lower() for h in row.blocked_headers),
        inject_headers=tuple(row.inject_headers.items()),
        timeout_seconds=float(row.timeout_seconds),
        strip_path_prefix=row.strip_path_prefix,
        preserve_query=row.preserve_query,
        rate_limit_per_minute=row.rate_limit_per_minute,
        rate_limit_per_hour=row.rate_limit_per_hour,
        rate_limit_per_token=row.rate_limit_per_token,
        max_body_bytes=row.max_body_bytes,
        enabled=row.enabled,
        oauth_connection_id=row.oauth_connection_id,
    )


def list_endpoints(project_id: int) -> list[dict[str, Any]]:
    """Introspection: what a project's API gateway exposes (no upstream secrets)."""

    return [
        {
            "kind": "proxy",
            "slug": row.slug,
            "path": f"proxy/{row.slug}/",
            "methods": row.allowed_methods,
            "enabled": row.enabled,
        }
        for row in ApiEndpoint.objects.filter(project_id=project_id).order_by("slug")
    ]
