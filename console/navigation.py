"""The console's navigation: the registered models grouped by the operator's tasks, in the product's words.

Django lists models per app ("AI", "HTTP", "Django OAuth Toolkit"); an operator thinks in tasks (set up a
project, give it a provider key, look at its traffic). `SECTIONS` says which models each task holds, in
order; a registered model missing from it lands under "Other" rather than disappearing.
"""

from __future__ import annotations

from typing import Any

# (section name, slug, [(app_label, object_name, label or None for the model's verbose_name_plural)])
SECTIONS: list[tuple[str, str, list[tuple[str, str, str | None]]]] = [
    (
        "Projects",
        "projects",
        [
            ("projects", "Project", None),
            ("projects", "ApiToken", None),
            ("ai", "AIEndpoint", None),
            ("ai", "ModelAlias", None),
            ("ai", "Session", "AI endpoint sessions"),
            ("http", "ApiEndpoint", None),
            ("mcp", "McpServer", None),
        ],
    ),
    (
        "Providers and credentials",
        "providers",
        [
            ("credentials", "Credential", None),
            ("credentials", "ProviderAssignment", None),
            ("credentials", "ProviderTemplate", None),
            ("credentials", "ProviderSetting", None),
            ("credentials", "OAuthConnection", None),
            ("ai", "PriceOverride", "Model prices"),
        ],
    ),
    ("Guardrails", "guardrails", [("guardrails", "GuardrailRule", None)]),
    ("Webhooks", "webhooks", [("webhooks", "Webhook", None)]),
    (
        "Logs and usage",
        "logs",
        [
            ("audit", "RequestLog", "Request logs"),
            ("ai", "UsageReport", "Usage and cost"),
            ("ai", "UsageLimit", None),
            ("audit", "LogRetention", "Log retention"),
            ("django_tasks_database", "DBTaskResult", "Background tasks"),
        ],
    ),
    ("Audit", "audit", [("audit", "AuditLog", "Audit trail")]),
    (
        "Access",
        "access",
        [
            ("auth", "User", "Users"),
            ("auth", "Group", "Groups"),
            ("oauth2_provider", "Application", "API clients"),
        ],
    ),
]


def by_task(app_list: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Django's per-app list (what the user may see) regrouped into SECTIONS, each shaped like an app."""
    models = {(app["app_label"], m["object_name"]): (app, m) for app in app_list for m in app["models"]}
    sections = []
    for name, slug, entries in SECTIONS:
        shown = []
        for app_label, object_name, label in entries:
            found = models.pop((app_label, object_name), None)
            if found is None:
                continue  # not registered, or the user may not see it
            _, model = found
            shown.append({**model, "name": label or model["name"]})
        if shown:
            sections.append(_section(name, slug, shown))
    rest = [m for _, m in models.values()]
    if rest:
        sections.append(_section("Other", "other", rest))
    return sections


def _section(name: str, slug: str, models: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": name,
        "app_label": f"section-{slug}",
        "app_url": models[0]["admin_url"] or "",
        "has_module_perms": True,
        "models": models,
    }
