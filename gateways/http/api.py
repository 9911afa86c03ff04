"""Management API for API endpoints (/manage/api/v1/projects/{uuid}/api-endpoints/{slug}/)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from gateways.common import ssrf
from gateways.http.models import ApiEndpoint
from gateways.http.serializers import ApiEndpointSerializer
from projects.api.base import ErrorSerializer
from projects.api.views import ProjectScopedMixin
from projects.models import Project
from projects.services import require_project_type
from promptgate.errors import PromptGateError

API_GATEWAY = "api_gateway"
SLUG_TAKEN = "An API endpoint with this slug already exists in this project."


# --- plain functions: every write of the API goes through save_endpoint -----------------------------
def ensure_api_gateway(project: Project) -> None:
    """Refuse (400 wrong_project_type) endpoints on a project that is not an API gateway."""
    require_project_type(project, {API_GATEWAY}, "API endpoints belong to")


def _refuse(endpoint: ApiEndpoint, exc: ValidationError) -> PromptGateError:
    """Map the model's ValidationError to the API's codes: wrong project type, SSRF, or plain fields."""
    fields = {name: list(messages) for name, messages in exc.message_dict.items()}
    if "project" in fields:
        ensure_api_gateway(endpoint.project)
    if "upstream_url" in fields:
        blocked = ssrf.refusal_error(endpoint.upstream_url, "upstream_url", fields)
        if blocked is not None:
            return blocked
    return PromptGateError("Invalid input", code="validation_error", fields=fields)


def set_inject_headers(endpoint: ApiEndpoint, headers: dict[str, str]) -> None:
    """Replace the injected headers (validated by the model); the audit trail notes the secret changed."""
    endpoint.inject_headers = headers


def _slug_taken(endpoint: ApiEndpoint) -> bool:
    others = ApiEndpoint.objects.filter(project_id=endpoint.project_id, slug=endpoint.slug)
    return others.exclude(pk=endpoint.pk).exists() if endpoint.pk else others.exists()


def save_endpoint(endpoint: ApiEndpoint, changes: dict[str, Any]) -> ApiEndpoint:
    """Apply `changes` (wire names) to an endpoint, validate it as the model does, save it in one transaction.

    `inject_headers` absent keeps the stored headers; a dict replaces them ({} clears).
    """
    ensure_api_gateway(endpoint.project)
    changes = dict(changes)
    inject = changes.pop("inject_headers", None)
    for name, value in changes.items():
        setattr(endpoint, name, value)
    errors: dict[str, list[str]] = {}
    if inject is not None:
        try:
            set_inject_headers(endpoint, inject)
        except ValidationError as exc:
            errors["inject_headers"] = exc.messages
    try:
        endpoint.full_clean(validate_constraints=False)
    except ValidationError as exc:
        for name, messages in exc.message_dict.items():
            errors.setdefault(name, []).extend(messages)
    if endpoint.slug and _slug_taken(endpoint):
        errors.setdefault("slug", []).append(SLUG_TAKEN)
    if errors:
        raise _refuse(endpoint, ValidationError(errors))
    try:
        with transaction.atomic():
            endpoint.save()
    except IntegrityError:
        # Two writers raced for the slug; the loser gets the same answer as a sequential duplicate.
        raise PromptGateError(
            "Invalid input", code="validation_error", fields={"slug": [SLUG_TAKEN]}
        ) from None
    return endpoint


def delete_endpoint(endpoint: ApiEndpoint) -> None:
    with transaction.atomic():
        endpoint.delete()


# --- views --------------------------------------------------------------------------------------------
_SLUG = OpenApiParameter(
    "slug", str, OpenApiParameter.PATH, description="The endpoint's slug (as in /api/{uuid}/proxy/{slug}/)."
)
_WRITE_ERRORS = {
    400: OpenApiResponse(
        ErrorSerializer,
        description="validation_error (fields name the problems), ssrf_blocked (the upstream resolves "
        "to a blocked address class), wrong_project_type (not an api_gateway project), unknown_field.",
    )
}


@extend_schema_view(
    list=extend_schema(summary="List a project's API endpoints"),
    create=extend_schema(
        summary="Create an API endpoint", responses={201: ApiEndpointSerializer, **_WRITE_ERRORS}
    ),
    retrieve=extend_schema(summary="Read an API endpoint", parameters=[_SLUG]),
    update=extend_schema(
        summary="Replace an API endpoint (injected headers are kept unless sent)",
        parameters=[_SLUG],
        responses={200: ApiEndpointSerializer, **_WRITE_ERRORS},
    ),
    partial_update=extend_schema(
        summary="Change an API endpoint (injected headers are kept unless sent)",
        parameters=[_SLUG],
        responses={200: ApiEndpointSerializer, **_WRITE_ERRORS},
    ),
    destroy=extend_schema(summary="Delete an API endpoint", parameters=[_SLUG]),
)
class ApiEndpointViewSet(ProjectScopedMixin, viewsets.ModelViewSet):
    """A project's HTTP proxy endpoints, keyed by slug. Viewers read; admins and owners write."""

    serializer_class = ApiEndpointSerializer
    queryset = ApiEndpoint.objects.none()
    lookup_field = "slug"
    lookup_value_regex = "[^/]+"
    project_actions = {
        "create": "manage_endpoints",
        "update": "manage_endpoints",
        "partial_update": "manage_endpoints",
        "destroy": "manage_endpoints",
    }

    def get_queryset(self) -> QuerySet[ApiEndpoint]:
        if getattr(self, "swagger_fake_view", False):
            return ApiEndpoint.objects.none()
        return ApiEndpoint.objects.filter(project=self.get_project()).order_by("slug", "id")

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        if not getattr(self, "swagger_fake_view", False):
            context["project"] = self.get_project()
        return context

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        project = self.get_project()
        ensure_api_gateway(project)
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = save_endpoint(ApiEndpoint(project=project), serializer.validated_data)
        return Response(self.get_serializer(endpoint).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        endpoint = self.get_object()
        partial = kwargs.get("partial", False)
        serializer = self.get_serializer(endpoint, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        endpoint = save_endpoint(endpoint, serializer.validated_data)
        return Response(self.get_serializer(endpoint).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        delete_endpoint(self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


router = SimpleRouter()
router.register(
    r"projects/(?P<project_uuid>[^/.]+)/api-endpoints", ApiEndpointViewSet, basename="project-api-endpoint"
)
urlpatterns = router.urls
