"""App config for gateways.common: what all gateways share (auth, limits, writer, SSRF-safe client)."""

from django.apps import AppConfig, apps
from django.db.models.signals import post_delete, post_save


class CommonConfig(AppConfig):
    name = "gateways.common"
    label = "common"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported in ready(): they reach the models, which are loaded only now.
        from audit.signals import is_audited
        from gateways.common import versioning

        def changed(sender: type, **kwargs: object) -> None:
            versioning.bump()

        # Any change to a config model invalidates the data plane's caches (changes are rare; a
        # blanket bump is simpler and safer than per-object invalidation).
        for model in apps.get_models():
            if is_audited(model):
                post_save.connect(
                    changed, sender=model, dispatch_uid=f"cfgver-save-{model._meta.label_lower}"
                )
                post_delete.connect(
                    changed, sender=model, dispatch_uid=f"cfgver-del-{model._meta.label_lower}"
                )
