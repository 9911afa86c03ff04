"""Management API views for projects, their tokens and their members: thin, over projects/services.py."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from projects import services
from projects.api import serializers as s
from projects.api.base import (
    ErrorSerializer,
    ManagementViewMixin,
    ProjectResourceViewSet,
    ProjectScopedMixin,
    manage_actions,
    schema_generation,
)
from projects.api.permissions import ensure_can_assign
from projects.models import ApiToken, Membership, Project
from projects.roles import projects_visible_to


def _conflict(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


@extend_schema_view(
    create=extend_schema(
        summary="Create a project (the caller becomes its owner)",
        responses={201: s.ProjectSerializer, 403: _conflict("project_limit_reached: the quota is full.")},
    ),
    update=extend_schema(request=s.ProjectUpdateSerializer, responses=s.ProjectSerializer),
    partial_update=extend_schema(request=s.ProjectUpdateSerializer, responses=s.ProjectSerializer),
    destroy=extend_schema(
        summary="Delete a project and everything it owns (its audit trail stays)",
        parameters=[
            OpenApiParameter(
                "confirm",
                OpenApiTypes.STR,
                OpenApiParameter.QUERY,
                required=True,
                description="The project's slug; anything else answers 400 confirmation_required.",
            )
        ],
    ),
)
class ProjectViewSet(ManagementViewMixin, viewsets.ModelViewSet):
    """Projects the caller can see; keyed by uuid."""

    lookup_field = "uuid"
    serializer_class = s.ProjectSerializer
    filterset_fields = ["project_type", "env", "is_active"]
    project_actions = {
        "update": "edit",
        "partial_update": "edit",
        "activate": "edit",
        "deactivate": "edit",
        "revoke_tokens": "revoke_tokens",
        "destroy": "delete",
    }

    def get_queryset(self) -> QuerySet[Project]:
        if schema_generation(self):
            return Project.objects.none()
        live = Count("tokens", filter=Q(tokens__revoked_at__isnull=True))
        return projects_visible_to(self.request.user).annotate(token_count=live).order_by("name", "id")

    def get_serializer_class(self) -> type:
        if self.action in ("update", "partial_update"):
            return s.ProjectUpdateSerializer
        return s.ProjectSerializer

    def _answer(self, project: Project, code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=project.pk)
        return Response(s.ProjectSerializer(fresh).data, status=code)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        project = services.create_project(owner=request.user, **serializer.validated_data)
        return self._answer(project, status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        project = self.get_object()
        serializer = self.get_serializer(project, data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        # Through set_active, so the trail says activate/deactivate rather than a plain update.
        active = changes.pop("is_active", None)
        project = services.update_project(project, changes)
        if active is not None:
            project = services.set_active(project, active)
        return self._answer(project)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.delete_project(self.get_object(), request.query_params.get("confirm"))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=s.ProjectSerializer, summary="Activate a project")
    @action(detail=True, methods=["post"])
    def activate(self, request: Request, uuid: str) -> Response:
        return self._answer(services.set_active(self.get_object(), True))

    @extend_schema(
        request=None, responses=s.ProjectSerializer, summary="Deactivate a project (its traffic is refused)"
    )
    @action(detail=True, methods=["post"])
    def deactivate(self, request: Request, uuid: str) -> Response:
        return self._answer(services.set_active(self.get_object(), False))

    @extend_schema(request=None, responses=s.RevokedCountSerializer, summary="Revoke every live token")
    @action(detail=True, methods=["post"], url_path="revoke-tokens")
    def revoke_tokens(self, request: Request, uuid: str) -> Response:
        return Response({"revoked": services.revoke_all_tokens(self.get_object())})


@extend_schema_view(
    create=extend_schema(
        summary="Issue a token (the answer holds its plaintext, this once)",
        request=s.TokenCreateSerializer,
        responses={
            201: s.TokenCreatedSerializer,
            409: _conflict("project_inactive: cannot generate tokens for an inactive project."),
        },
    ),
    destroy=extend_schema(
        summary="Revoke a token (204; the row stays, listed with status revoked)",
    ),
)
class TokenViewSet(
    ProjectScopedMixin,
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """A project's API tokens. DELETE revokes (answers 204); POST {id}/revoke/ answers the token."""

    serializer_class = s.TokenSerializer
    queryset = ApiToken.objects.none()
    project_actions = {"create": "issue_tokens", "destroy": "revoke_tokens", "revoke": "revoke_tokens"}

    def get_queryset(self) -> QuerySet[ApiToken]:
        if schema_generation(self):
            return ApiToken.objects.none()
        return ApiToken.objects.filter(project=self.get_project()).order_by("-created_at", "-id")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = s.TokenCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token, plaintext = services.issue_token(
            self.get_project(), created_by=request.user, **serializer.validated_data
        )
        data = s.TokenSerializer(token).data
        data["token"] = plaintext
        return Response(data, status=status.HTTP_201_CREATED)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.revoke_token(self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=s.TokenSerializer, summary="Revoke a token")
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(s.TokenSerializer(services.revoke_token(self.get_object())).data)


_LAST_OWNER = _conflict("last_owner: a project keeps at least one owner.")


@extend_schema_view(
    update=extend_schema(
        request=s.MembershipUpdateSerializer, responses={200: s.MembershipSerializer, 409: _LAST_OWNER}
    ),
    partial_update=extend_schema(
        request=s.MembershipUpdateSerializer, responses={200: s.MembershipSerializer, 409: _LAST_OWNER}
    ),
    destroy=extend_schema(responses={204: None, 409: _LAST_OWNER}),
)
class MemberViewSet(ProjectResourceViewSet):
    """A project's members and their roles."""

    model = Membership
    serializer_class = s.MembershipSerializer
    queryset = Membership.objects.none()
    project_actions = manage_actions(role_action="manage_members")

    def scoped(self, project: Project) -> QuerySet[Membership]:
        return Membership.objects.filter(project=project).select_related("user")

    def get_serializer_class(self) -> type:
        if self.action in ("update", "partial_update"):
            return s.MembershipUpdateSerializer
        return s.MembershipSerializer

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # The role check comes before the user lookup: checked after it, a refusal (403) for a real
        # user against a 400 for an unknown one would tell which usernames exist.
        role = request.data.get("role") if isinstance(request.data, dict) else None
        if isinstance(role, str):
            ensure_can_assign(request.user, self.get_project(), role)
        return super().create(request, *args, **kwargs)

    def perform_create(self, serializer: BaseSerializer[Membership]) -> None:
        project, role = self.get_project(), serializer.validated_data["role"]
        ensure_can_assign(self.request.user, project, role)
        serializer.instance = services.add_member(project, serializer.validated_data["user"], role)

    def perform_update(self, serializer: BaseSerializer[Membership]) -> None:
        membership = serializer.instance
        assert isinstance(membership, Membership)  # an update always has its instance
        role = serializer.validated_data.get("role", membership.role)
        ensure_can_assign(self.request.user, membership.project, role, membership.role)
        serializer.instance = services.change_role(membership, role)

    def perform_destroy(self, instance: Membership) -> None:
        ensure_can_assign(self.request.user, instance.project, instance.role)
        services.remove_member(instance)
