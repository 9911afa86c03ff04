"""App config for audit: the audit trail, request logs, webhooks and backup commands."""

from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported in ready(): it reaches the models, which are loaded only now.
        from audit import signals

        signals.connect()
