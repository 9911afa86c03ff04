"""App config for credentials: provider credentials, OAuth connections and the crypto they rely on."""

from django.apps import AppConfig


class CredentialsConfig(AppConfig):
    name = "credentials"
    default_auto_field = "django.db.models.BigAutoField"
