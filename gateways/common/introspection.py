"""Public introspection for tokens with the `admin` scope: /info, /endpoints and /tokens of a project."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.utils import timezone

from gateways.common import db
from gateways.common.http import JSONResponse, Response
from gateways.common.router import GatewayRequest
from projects.models import ApiToken

# Each gateway app contributes a function listing its endpoints of a project (see promptgate/dataplane.py).
EndpointLister = Callable[[int], list[dict[str, Any]]]


def _token_counts(project_id: int) -> dict[str, int]:
    now = timezone.now()
    tokens = ApiToken.objects.filter(project_id=project_id)
    active = tokens.filter(revoked_at__isnull=True).exclude(expires_at__lte=now).count()
    return {"tokens": tokens.count(), "active_tokens": active}


def _tokens(project_id: int) -> list[dict[str, Any]]:
    rows = ApiToken.objects.filter(project_id=project_id).order_by("-created_at", "-id")
    return [
        {
            "id": t.id,
            "name": t.name,
            "prefix": t.prefix,
            "scopes": t.scopes,
            "status": t.status,
            "expires_at": t.expires_at.isoformat() if t.expires_at else None,
            "max_requests": t.max_requests,
            "request_count": t.request_count,
            "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None,
            "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None,
            "created_at": t.created_at.isoformat(),
        }
        for t in rows
    ]


class Introspection:
    def __init__(self, endpoint_listers: list[EndpointLister]) -> None:
        self.endpoint_listers = endpoint_listers

    def _endpoints(self, project_id: int) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for lister in self.endpoint_listers:
            found.extend(lister(project_id))
        return found

    async def info(self, greq: GatewayRequest) -> Response:
        project = greq.project
        counts = await db.run_sync(_token_counts, project.id)
        endpoints = await db.run_sync(self._endpoints, project.id)
        counts["endpoints"] = len(endpoints)
        return JSONResponse(
            {
                "uuid": project.uuid,
                "name": project.name,
                "slug": project.slug,
                "project_type": project.project_type,
                "env": project.env,
                "is_active": project.is_active,
                "counts": counts,
            }
        )

    async def endpoints(self, greq: GatewayRequest) -> Response:
        return JSONResponse({"endpoints": await db.run_sync(self._endpoints, greq.project.id)})

    async def tokens(self, greq: GatewayRequest) -> Response:
        return JSONResponse({"tokens": await db.run_sync(_tokens, greq.project.id)})
