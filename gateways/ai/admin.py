"""Admin registrations of the AI gateway (each area keeps its own module; they register on import)."""

# admin_aliases registers ModelAlias and UsageLimit; admin_endpoints AIEndpoint, Session and the
# playground; usage_admin PriceOverride and the usage page.
from gateways.ai import admin_aliases, admin_endpoints, usage_admin  # noqa: F401
