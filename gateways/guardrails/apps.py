"""App config for gateways.guardrails: rules, detectors, resolution and the engine every gateway calls."""

from django.apps import AppConfig


class GuardrailsConfig(AppConfig):
    name = "gateways.guardrails"
    label = "guardrails"
    default_auto_field = "django.db.models.BigAutoField"
