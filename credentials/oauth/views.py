"""`GET /oauth/callback`: where providers send the browser back; every outcome is a plain HTML page."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from credentials.oauth import flow


@never_cache
@require_GET
def callback(request: HttpRequest) -> HttpResponse:
    result = flow.complete(request.GET.dict(), request.user)
    conn = result.connection
    context = {
        "result": result,
        "connection": conn,
        "admin_url": reverse("admin:credentials_oauthconnection_change", args=[conn.pk]) if conn else "",
    }
    response = render(request, "oauth/callback.html", context, status=200 if result.ok else 400)
    # The page's URL holds the code and state: keep it out of any Referer.
    response["Referrer-Policy"] = "no-referrer"
    return response
