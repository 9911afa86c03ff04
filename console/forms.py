"""The base of the admin's model forms that check the built instance (services' validation, SSRF).

Django's `ModelForm._post_clean` is the hook that runs once the instance carries the cleaned data, and
`_update_errors` files a model ValidationError under its fields. Both are private in Django and left
out of django-stubs; they are declared here once, typed, so the admin forms override and call them
without an ignore each.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError


class InstanceCheckedForm(forms.ModelForm):
    def _post_clean(self) -> None:
        super()._post_clean()  # type: ignore[misc]  # Django's private hook, absent from django-stubs

    def _update_errors(self, errors: ValidationError) -> None:
        super()._update_errors(errors)  # type: ignore[misc]  # Django's private helper, likewise
