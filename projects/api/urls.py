"""Routes of projects, their tokens and members, under /manage/api/v1/."""

from rest_framework.routers import SimpleRouter

from projects.api import views

router = SimpleRouter()
router.register("projects", views.ProjectViewSet, basename="project")
# Nested resources: a plain regex prefix carries the project's uuid (no nested-router dependency).
router.register(r"projects/(?P<project_uuid>[^/.]+)/tokens", views.TokenViewSet, basename="project-token")
router.register(r"projects/(?P<project_uuid>[^/.]+)/members", views.MemberViewSet, basename="project-member")

urlpatterns = router.urls
