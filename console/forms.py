"""The base of the admin's model forms that check the built instance (services' validation, SSRF).

Django's `ModelForm._post_clean` is the hook that runs once the instance carries the cleaned data, and
`_update_errors` files a model ValidationError under its fields. Both are private in Django and left
out of django-stubs; they are declared here once, typed, so the admin forms override and call them
without an ignore each.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from gateways.common import ssrf


class InstanceCheckedForm(forms.ModelForm):
    def _post_clean(self) -> None:
        super()._post_clean()  # type: ignore[misc]  # Django's private hook, absent from django-stubs

    def _update_errors(self, errors: ValidationError) -> None:
        super()._update_errors(errors)  # type: ignore[misc]  # Django's private helper, likewise


class UpstreamUrlForm(InstanceCheckedForm):
    """A form of a model with an `upstream_url` (API endpoints, MCP servers): a refused URL's error names
    the address class, never the internal address a host name resolved to."""

    def _post_clean(self) -> None:
        super()._post_clean()
        if self.has_error("upstream_url"):
            blocked = ssrf.refusal(self.instance.upstream_url)
            if blocked is not None:
                self.errors["upstream_url"] = self.error_class([blocked.saved_message()])
