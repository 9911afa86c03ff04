"""The admin app with PromptGate's site as its default (INSTALLED_APPS names this instead of django.contrib.admin)."""

from __future__ import annotations

from django.contrib.admin.apps import AdminConfig


class ConsoleAdminConfig(AdminConfig):
    default_site = "console.site.ConsoleSite"

    def ready(self) -> None:
        super().ready()  # autodiscovers every app's admin.py first
        # Imported in ready(): it unregisters models from the admin, both loaded only now.
        from console.site import hide_internal_tables

        hide_internal_tables()
