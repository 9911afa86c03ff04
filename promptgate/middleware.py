"""Management API paths without their trailing slash are served, not redirected.

Django's CommonMiddleware answers `POST /manage/api/v1/projects` with a RuntimeError page (DEBUG) or a
301 that the client follows as a GET, losing the body. Automation often drops the slash: when the
path is under the management API, serve it as if the slash were there (an unknown path then gets the
management API's JSON 404).
"""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import Resolver404, resolve
from django.utils.deprecation import MiddlewareMixin

MANAGEMENT_PREFIX = "/manage/api/v1/"


class ManagementSlashMiddleware(MiddlewareMixin):
    """Appends the missing trailing slash of a management API path before Django would redirect."""

    def process_request(self, request: HttpRequest) -> None:
        path = request.path_info
        if not path.startswith(MANAGEMENT_PREFIX) or path.endswith("/"):
            return
        try:
            resolve(path + "/")  # a real route, or the JSON 404 that answers any other slashed path
        except Resolver404:
            return
        request.path_info = path + "/"
        request.path = request.path + "/"
