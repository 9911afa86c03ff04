"""Provider credentials as the gateway uses them: masked hints, targets, and the connection test."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import orjson
from asgiref.sync import async_to_sync

from credentials.models import Credential
from gateways.ai.providers.base import Target, UpstreamRequest
from gateways.ai.providers.registry import get_adapter, make_target
from gateways.common import ssrf
from gateways.common.transport import http_client

CHECK_TIMEOUT = http_client.Timeout(15.0, connect=5.0)
INVALID_KEY = "Invalid API key format"
MAX_CHECK_BODY = 256 * 1024  # enough for an error message; a long model list is cut, not buffered
_KNOWN_PREFIX = re.compile(r"^(sk-ant-|sk-or-|sk-|gsk_|AIza|tgp_v1_)")


def key_hint(api_key: str) -> str:
    """`sk-…a1b2`: the provider prefix and the last four characters, or nothing of a short key."""
    if not api_key:
        return ""
    if len(api_key) < 12:
        return "…"
    match = _KNOWN_PREFIX.match(api_key)
    return f"{match.group(1) if match else ''}…{api_key[-4:]}"


def target_for(credential: Credential, model: str = "") -> Target:
    return make_target(
        credential.provider, model, credential.api_key, credential.base_url, credential.options
    )


@dataclass(frozen=True, slots=True)
class ConnectionCheck:
    ok: bool
    status: int | None  # the provider's HTTP status; None when no answer came
    message: str
    latency_ms: int


def check_connection(credential: Credential) -> ConnectionCheck:
    """List the provider's models with this credential; the verdict names no URL and no key."""
    adapter = get_adapter(credential.provider)
    request = adapter.models_request(target_for(credential))
    started = time.perf_counter()
    try:
        status, body = async_to_sync(_send)(request)
    except (http_client.UpstreamError, ssrf.SsrfBlocked, OSError) as exc:
        _status, _code, message = http_client.classify_upstream_error(exc)
        return ConnectionCheck(False, None, message, _elapsed(started))
    if 200 <= status < 300:
        return ConnectionCheck(True, status, "Connection OK", _elapsed(started))
    error = adapter.error(status, body)
    return ConnectionCheck(False, status, error.message, _elapsed(started))


def _elapsed(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


async def _send(request: UpstreamRequest) -> tuple[int, bytes]:
    # Under ASGI this runs on the server's loop, so it uses the process's shared, SSRF-pinned client.
    headers = request.headers
    content = None
    if request.json is not None:
        content = orjson.dumps(request.json)
        if not any(name.lower() == "content-type" for name in headers):
            headers = {**headers, "Content-Type": "application/json"}
    response = await http_client.send(
        request.method, request.url, headers=headers, content=content, timeout=CHECK_TIMEOUT
    )
    try:
        body = await response.read(MAX_CHECK_BODY, truncate=True)
    finally:
        await response.aclose()
    return response.status, body


def alias_target_error(target: str) -> str | None:
    """Why an alias target is unusable; None when each comma-separated step of its failover chain is
    `provider:model` with a known provider, or a template name."""
    from credentials.models import ProviderTemplate
    from gateways.ai.providers.registry import split_model

    steps = [step.strip() for step in target.split(",")]
    if not all(steps):
        return "Empty step: write provider:model or template names, separated by commas."
    templates = set(ProviderTemplate.objects.filter(name__in=steps).values_list("name", flat=True))
    unknown = [step for step in steps if split_model(step) is None and step not in templates]
    if unknown:
        return f"Unknown target {unknown[0]!r}: use provider:model with a known provider, or a template name."
    return None


def assignment_error(provider: str, credential: Credential) -> str | None:
    """Why this credential cannot serve this provider (None when it can)."""
    if credential.provider != provider:
        return f"Credential {credential.name!r} is for {credential.provider}, not {provider}."
    return None
