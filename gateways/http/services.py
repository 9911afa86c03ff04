"""API endpoint services: every write of the management API and the admin goes through here."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from gateways.common import ssrf
from gateways.http.models import ApiEndpoint
from projects.models import Project
from projects.project_types import PROJECT_TYPES, Resource
from projects.services import require_project_type, save_validated
from promptgate.errors import ErrorCode, PromptGateError

SLUG_TAKEN = "An API endpoint with this slug already exists in this project."


def ensure_api_gateway(project: Project) -> None:
    """Refuse (400 wrong_project_type) endpoints on a project that is not an API gateway."""
    require_project_type(project, PROJECT_TYPES[Resource.API_ENDPOINT], "API endpoints belong to")


def set_inject_headers(endpoint: ApiEndpoint, headers: dict[str, str]) -> None:
    """Replace the injected headers (validated by the model); the audit trail notes the secret changed."""
    endpoint.inject_headers = headers


def save_endpoint(endpoint: ApiEndpoint, changes: dict[str, Any]) -> ApiEndpoint:
    """Apply `changes` (wire names) to an endpoint, validate it as the model does, save it in one transaction.

    `inject_headers` absent keeps the stored headers; a dict replaces them ({} clears).
    """
    ensure_api_gateway(endpoint.project)
    changes = dict(changes)
    inject = changes.pop("inject_headers", None)
    errors: dict[str, list[str]] = {}
    if inject is not None:
        try:
            set_inject_headers(endpoint, inject)
        except ValidationError as exc:
            errors["inject_headers"] = exc.messages

    def refuse(fields: dict[str, list[str]]) -> PromptGateError:
        # The model's errors in the API's codes: wrong project type, SSRF, or plain fields.
        if "project" in fields:
            ensure_api_gateway(endpoint.project)
        if "upstream_url" in fields:
            blocked = ssrf.refusal_error(endpoint.upstream_url, "upstream_url", fields)
            if blocked is not None:
                return blocked
        return PromptGateError("Invalid input", code=ErrorCode.VALIDATION_ERROR, fields=fields)

    return save_validated(endpoint, changes, unique="slug", taken=SLUG_TAKEN, errors=errors, refuse=refuse)
