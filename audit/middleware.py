"""Binds request id, client IP and the acting user or API client to the audit context."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse

from audit import context

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def request_id_from(header: str | None) -> str:
    """Honour a caller's X-Request-Id when it is a sane token, else mint one."""
    if header and _REQUEST_ID.match(header):
        return header
    return context.new_request_id()


def actor_from_request(request: HttpRequest) -> context.Actor:
    auth = getattr(request, "auth", None)
    application = getattr(auth, "application", None)
    if application is not None:
        return context.Actor(kind="api_client", id=str(application.client_id), label=application.name)
    return context.actor_for_user(getattr(request, "user", None))


class RequestContextMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

    def _bind(self, request: HttpRequest) -> tuple[object, str]:
        """Activate the request's context; the reset token and the request id it carries."""
        request_id = request_id_from(request.headers.get("X-Request-Id"))
        ctx = context.RequestContext(
            ip=request.META.get("REMOTE_ADDR") or None,
            request_id=request_id,
            actor_resolver=lambda: actor_from_request(request),
        )
        return context.activate(ctx), request_id

    def __call__(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse]:
        if self._async:
            return self._acall(request)
        token, request_id = self._bind(request)
        try:
            response: HttpResponse = self.get_response(request)
        finally:
            context.deactivate(token)
        response["X-Request-Id"] = request_id
        return response

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        token, request_id = self._bind(request)
        try:
            response: HttpResponse = await self.get_response(request)
        finally:
            context.deactivate(token)
        response["X-Request-Id"] = request_id
        return response
