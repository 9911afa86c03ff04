"""`GET /oauth/callback`: where providers send the browser back.

A completed connection shows a small HTML page (a person is at the browser); every refusal is the
PromptGate JSON error `{"error": {"code": <reason>, "message": ...}}`, like every non-admin route.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from credentials.oauth import flow
from promptgate.errors import ErrorCode, json_error


@csrf_exempt  # it changes nothing; CSRF's HTML 403 must not answer a stray POST in place of the JSON 405
@never_cache
def callback(request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        response: HttpResponse = json_error(
            405, ErrorCode.METHOD_NOT_ALLOWED, "Only GET is allowed here", Allow="GET"
        )
        return response
    result = flow.complete(request.GET.dict(), request.user)
    conn = result.connection
    if not result.ok:
        response = json_error(400, result.reason or ErrorCode.OAUTH_CALLBACK_FAILED, result.message)
    else:
        context = {
            "result": result,
            "connection": conn,
            "admin_url": reverse("admin:credentials_oauthconnection_change", args=[conn.pk]) if conn else "",
        }
        response = render(request, "oauth/callback.html", context, status=200)
    # The page's URL holds the code and state: keep it out of any Referer.
    response["Referrer-Policy"] = "no-referrer"
    return response
