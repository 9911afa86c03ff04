"""Request middleware of the control plane: management API paths without their trailing slash are
served, not redirected; a console user who must change their password is sent to do it first.

Django's CommonMiddleware answers `POST /manage/api/v1/projects` with a RuntimeError page (DEBUG) or a
301 that the client follows as a GET, losing the body. Automation often drops the slash: when the
path is under the management API, serve it as if the slash were there (an unknown path then gets the
management API's JSON 404).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import Resolver404, resolve, reverse
from django.utils.deprecation import MiddlewareMixin

from projects.models import PasswordChangeRequired

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


# Console pages a user who must change their password may still open.
_PASSWORD_FREE = ("admin:password_change", "admin:password_change_done", "admin:logout", "admin:jsi18n")
_PASSWORD_OK = "promptgate_password_ok"  # session flag: checked once per session, not per page


class PasswordChangeRequiredMiddleware(MiddlewareMixin):
    """Console pages redirect to "Change password" while the user's one-time password is unchanged."""

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        if not request.path_info.startswith("/admin/") or request.session.get(_PASSWORD_OK):
            return None
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None

        pending = PasswordChangeRequired.objects.filter(user=user).first()
        if pending is not None and pending.password != user.password:
            pending.delete()  # changed since: the requirement is met
            pending = None
        if pending is None:
            request.session[_PASSWORD_OK] = True
            return None
        allowed = {reverse(name) for name in _PASSWORD_FREE}
        if request.path_info in allowed:
            return None
        return HttpResponseRedirect(reverse("admin:password_change"))
