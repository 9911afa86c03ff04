"""Control-plane URLs served by Django: the admin, OAuth2 token endpoints and the management API.

The data plane (`/api/`, `/healthz`, `/readyz`, `/metrics`) never reaches Django: promptgate/asgi.py
routes it to the gateways' own lean async views.
"""

from django.contrib import admin
from django.urls import include, path
from oauth2_provider import urls as oauth2_urls

# There is no public site beside the console: Django's "View site" link would lead to a 404 page.
admin.site.site_url = None

urlpatterns = [
    path("admin/", admin.site.urls),
    path("o/", include((oauth2_urls.base_urlpatterns, "oauth2_provider"), namespace="oauth2_provider")),
    path("manage/api/v1/", include("promptgate.api_urls")),
    path("oauth/callback", include("credentials.oauth.urls")),
]

handler400 = "promptgate.errors.handler400"
handler403 = "promptgate.errors.handler403"
handler404 = "promptgate.errors.handler404"
handler500 = "promptgate.errors.handler500"
