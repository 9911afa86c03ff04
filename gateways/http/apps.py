"""App config for gateways.http."""

from django.apps import AppConfig


class HttpConfig(AppConfig):
    name = "gateways.http"
    label = "http"
    default_auto_field = "django.db.models.BigAutoField"
