"""Management API for API endpoints (/manage/api/v1/projects/{uuid}/api-endpoints/{slug}/)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.routers import SimpleRouter

from gateways.http import services
from gateways.http.models import ApiEndpoint
from gateways.http.serializers import ApiEndpointSerializer
from projects.api.base import ProjectResourceViewSet, documented_writes
from projects.models import Project

_SLUG = OpenApiParameter(
    "slug", str, OpenApiParameter.PATH, description="The endpoint's slug (as in /api/{uuid}/proxy/{slug}/)."
)
_CHANGE = "(injected headers are kept unless sent)"


@documented_writes(
    ApiEndpointSerializer,
    {
        400: "validation_error (fields name the problems), ssrf_blocked (the upstream resolves to a blocked "
        "address class), wrong_project_type (not an api_gateway project), unknown_field."
    },
    {
        "create": "Create an API endpoint",
        "update": f"Replace an API endpoint {_CHANGE}",
        "partial_update": f"Change an API endpoint {_CHANGE}",
    },
    parameters=[_SLUG],
    list=extend_schema(summary="List a project's API endpoints"),
    retrieve=extend_schema(summary="Read an API endpoint", parameters=[_SLUG]),
    destroy=extend_schema(summary="Delete an API endpoint", parameters=[_SLUG]),
)
class ApiEndpointViewSet(ProjectResourceViewSet):
    """A project's HTTP proxy endpoints, keyed by slug. Viewers read; admins and owners write."""

    model = ApiEndpoint
    ordering = ("slug", "id")
    serializer_class = ApiEndpointSerializer
    queryset = ApiEndpoint.objects.none()
    lookup_field = "slug"
    lookup_value_regex = "[^/]+"

    def check_project(self, project: Project) -> None:
        services.ensure_api_gateway(project)

    def save_resource(self, instance: ApiEndpoint, changes: dict[str, Any]) -> ApiEndpoint:
        return services.save_endpoint(instance, changes)


router = SimpleRouter()
router.register(
    r"projects/(?P<project_uuid>[^/.]+)/api-endpoints", ApiEndpointViewSet, basename="project-api-endpoint"
)
urlpatterns = router.urls
