"""Named choices of the audit and request-log rows (the values are what the tables and the API hold).

Imports no model, so the data plane's route table can name a gateway before apps are ready.
"""

from __future__ import annotations

from django.db import models


class Gateway(models.TextChoices):
    """Which gateway served a call: RequestLog.gateway, the rollups' gateway and the routes' `gateway`."""

    AI = "ai", "AI gateway"
    HTTP = "http", "API gateway"
    MCP = "mcp", "MCP gateway"
    META = "meta", "Introspection (and calls no route matched)"
