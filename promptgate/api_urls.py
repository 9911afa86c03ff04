"""Management API routes (/manage/api/v1/): each app contributes its own router."""

from django.http import HttpRequest, JsonResponse
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from promptgate.errors import ErrorCode, json_error


@csrf_exempt  # it changes nothing; CSRF's HTML 403 must not answer an unknown write in its place
def unknown_route(request: HttpRequest) -> JsonResponse:
    return json_error(404, ErrorCode.NOT_FOUND, "Not found")


urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("projects.api.urls")),
    path("", include("audit.api.urls")),
    path("", include("gateways.http.api")),
    path("", include("credentials.api")),
    path("", include("credentials.api_providers")),
    path("", include("gateways.ai.usage")),
    path("", include("gateways.mcp.api")),
    path("", include("gateways.ai.api")),
    path("", include("gateways.guardrails.api")),
    path("", include("webhooks.api")),
    # Last: any other management path is a JSON 404, even with DEBUG on. Only paths ending in a
    # slash, so CommonMiddleware can still redirect "/projects" to "/projects/".
    re_path(r"^.*/$", unknown_route),
]
