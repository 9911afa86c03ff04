"""The OAuth callback route, included at /oauth/callback by promptgate/urls.py."""

from django.urls import path

from credentials.oauth import views

urlpatterns = [path("", views.callback, name="oauth-callback")]
