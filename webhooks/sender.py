"""The one module of webhooks that speaks HTTP: a POST to an SSRF-checked, pinned address.

Workers are sync (Django's Tasks API runs sync functions), so this is httpx's sync client, not the
data plane's async one. The pinning: the host is resolved once, every A/AAAA record checked by the
SSRF guard, and the request goes to the checked address itself, with the original `Host` header and
TLS server name (httpx's `sni_hostname` extension, so certificates are verified against the name). No
second resolution can happen, so DNS rebinding cannot slip a private address in. Redirects are not
followed (a 3xx is a failed attempt), proxies from the environment are ignored, and only the first
1 KB of the answer is read and kept.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit, urlunsplit

import httpx
from django.conf import settings

from gateways.common import ssrf

EXCERPT_BYTES = 1024
USER_AGENT = "PromptGate-Webhooks/1"


@dataclass(frozen=True)
class Answer:
    """What one attempt got: a status (None: no answer), an error code, latency, the answer's start."""

    status_code: int | None
    error: str
    latency_ms: int
    excerpt: str
    retry_after: float | None = None


_local = threading.local()


def _client() -> httpx.Client:
    client = getattr(_local, "client", None)
    if client is None:
        timeout = float(settings.PROMPTGATE_WEBHOOK_TIMEOUT_SECONDS)
        client = _local.client = httpx.Client(
            follow_redirects=False,
            trust_env=False,
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_keepalive_connections=20),
        )
    return client


def pinned_target(url: str) -> tuple[str, str, str]:
    """(URL addressed to the checked IP, Host header, TLS server name); raises SsrfBlocked or OSError."""
    ssrf.validate_url(url)  # scheme, userinfo, literal addresses, metadata names
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    ip = ipaddress.ip_address(ssrf.resolve_checked_sync(host, port)[0])
    netloc_host = f"[{ip}]" if ip.version == 6 else str(ip)
    netloc = f"{netloc_host}:{parts.port}" if parts.port else netloc_host
    host_header = parts.netloc.rsplit("@", 1)[-1]
    pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    return pinned, host_header, host


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def post(url: str, body: bytes, headers: dict[str, str]) -> Answer:
    """POST the body; never raises, never logs the body, the headers or the answer."""
    started = time.monotonic()

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        target, host_header, server_name = pinned_target(url)
    except ssrf.SsrfBlocked as exc:
        return Answer(None, f"ssrf_blocked:{exc.address_class}"[:60], took(), "")
    except (OSError, UnicodeError):
        return Answer(None, "unresolvable", took(), "")
    send_headers = {
        **headers,
        "host": host_header,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }
    try:
        with _client().stream(
            "POST", target, content=body, headers=send_headers, extensions={"sni_hostname": server_name}
        ) as response:
            excerpt = b""
            for chunk in response.iter_bytes():
                excerpt += chunk
                if len(excerpt) >= EXCERPT_BYTES:
                    break
            text = excerpt[:EXCERPT_BYTES].decode("utf-8", "replace")
            return Answer(
                response.status_code, "", took(), text, _retry_after(response.headers.get("retry-after"))
            )
    except httpx.TimeoutException:
        return Answer(None, "timeout", took(), "")
    except httpx.ConnectError:
        return Answer(None, "connect_error", took(), "")
    except (httpx.HTTPError, OSError):
        return Answer(None, "transport_error", took(), "")
