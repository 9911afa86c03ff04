"""App config for gateways.ai."""

from django.apps import AppConfig
from django.db.models.signals import post_save


class AiConfig(AppConfig):
    name = "gateways.ai"
    label = "ai"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported in ready(): it reaches the models, which are loaded only now.
        from gateways.ai import budget_seed
        from gateways.ai.models import UsageLimit

        # A budget set mid-day starts from the day's (and month's) spend so far.
        post_save.connect(budget_seed.on_limit_saved, sender=UsageLimit, dispatch_uid="ai-budget-seed")
