"""Routes of the audit trail and request log, under /manage/api/v1/."""

from rest_framework.routers import SimpleRouter

from audit.api import views
from audit.api.retention import urlpatterns as retention_urls

router = SimpleRouter()
router.register("audit-logs", views.AuditLogViewSet, basename="audit-log")
router.register("request-logs", views.RequestLogViewSet, basename="request-log")

urlpatterns = [*router.urls, *retention_urls]
