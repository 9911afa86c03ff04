"""App config for gateways.mcp."""

from django.apps import AppConfig


class McpConfig(AppConfig):
    name = "gateways.mcp"
    label = "mcp"
    default_auto_field = "django.db.models.BigAutoField"
