"""OAuth2 bearer authentication for the management API, acting as the client application's owner."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from oauth2_provider.contrib.rest_framework import OAuth2Authentication


class ApplicationUserOAuth2Authentication(OAuth2Authentication):
    """DOT's bearer authentication; a client-credentials token acts as its application's user.

    DOT 3.x stores no user on client-credentials access tokens, so `request.user` would be None and
    every call refused. The caller is the user who owns the application (create_api_client --user)
    and acts with that user's roles; the audit actor stays the API client (request.auth.application).
    """

    def authenticate(self, request: Any) -> tuple[Any, Any] | None:
        result = super().authenticate(request)
        if result is None:
            return None
        user, access_token = result
        if user is None:
            application = getattr(access_token, "application", None)
            user = getattr(application, "user", None)
        if user is None or not user.is_active:
            return None
        return user, access_token


class ApplicationUserOAuth2Scheme(OpenApiAuthenticationExtension):
    """Describes the bearer scheme: client-credentials tokens from /o/token/."""

    target_class = "projects.api.authentication.ApplicationUserOAuth2Authentication"
    name = "oauth2"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "oauth2",
            "description": "Client-credentials token from /o/token/ "
            "(applications made by `manage.py create_api_client`).",
            "flows": {
                "clientCredentials": {
                    "tokenUrl": "/o/token/",
                    "scopes": {"manage": "Use the PromptGate management API"},
                }
            },
        }
