"""AI gateway services for the management API and the admin: saving an AI endpoint, and provider
routing as the control plane needs it (a credential's target and connection test, alias chains)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson
from asgiref.sync import async_to_sync

from credentials.models import Credential, ProviderTemplate
from gateways.ai.models import AIEndpoint
from gateways.ai.providers.base import Target, UpstreamRequest
from gateways.ai.providers.registry import get_adapter, make_target, split_model
from gateways.common import ssrf
from gateways.common.transport import http_client
from projects.models import Project
from projects.project_types import PROJECT_TYPES, Resource
from projects.services import require_project_type, save_validated

SLUG_TAKEN = "An AI endpoint with this slug already exists in this project."
CHECK_TIMEOUT = http_client.Timeout(15.0, connect=5.0)
MAX_CHECK_BODY = 256 * 1024  # enough for an error message; a long model list is cut, not buffered


def ensure_ai_project(project: Project) -> None:
    require_project_type(project, PROJECT_TYPES[Resource.AI_ENDPOINT], "AI endpoints belong to")


def save_endpoint(endpoint: AIEndpoint, changes: dict[str, Any]) -> AIEndpoint:
    """Apply wire changes, validate as the model does (clean() included), save; 400 listing each problem."""
    ensure_ai_project(endpoint.project)
    return save_validated(endpoint, changes, unique="slug", taken=SLUG_TAKEN)


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
    steps = [step.strip() for step in target.split(",")]
    if not all(steps):
        return "Empty step: write provider:model or template names, separated by commas."
    templates = set(ProviderTemplate.objects.filter(name__in=steps).values_list("name", flat=True))
    unknown = [step for step in steps if split_model(step) is None and step not in templates]
    if unknown:
        return f"Unknown target {unknown[0]!r}: use provider:model with a known provider, or a template name."
    return None
