"""App config for gateways.ai."""

from django.apps import AppConfig


class AiConfig(AppConfig):
    name = "gateways.ai"
    label = "ai"
    default_auto_field = "django.db.models.BigAutoField"
