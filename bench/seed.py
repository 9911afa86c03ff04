"""Create the bench's projects, endpoints and tokens through the ORM; prints one JSON line of targets.

Run with the gateway's environment (`python -m bench.seed --http-port ...`), so it writes to the same
database the gateway serves from. Gateways that have not landed yet come back as {"unavailable": why}.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from decimal import Decimal
from typing import Any

import django
from django.core.exceptions import ValidationError
from django.db import connection

RATE_NEVER_REACHED = 2_000_000_000  # per minute; fits a PositiveIntegerField


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "promptgate.settings")

    django.setup()


def _token(project: Any) -> str:
    # Imported here: the bench sets Django up at run time, before the project's modules load.
    from projects import services

    _token_row, plaintext = services.issue_token(
        project, name="bench", scopes=["proxy", "ai", "mcp", "admin"]
    )
    return plaintext


def seed_http(stamp: str, port: int) -> dict[str, Any]:
    # Imported here: the bench sets Django up at run time, before the project's modules load.
    from gateways.http.models import ApiEndpoint
    from projects import services

    project = services.create_project(name=f"bench http {stamp}", project_type="api_gateway")
    endpoint = ApiEndpoint(
        project=project,
        slug="up",
        upstream_url=f"http://127.0.0.1:{port}/",
        allowed_methods=["GET", "POST"],
        max_body_bytes=2 * 1024 * 1024,
        # Limits on, never reached: the bench measures the full path (issue 9 §2).
        rate_limit_per_minute=RATE_NEVER_REACHED,
        rate_limit_per_hour=RATE_NEVER_REACHED,
    )
    endpoint.full_clean()
    endpoint.save()
    return {"uuid": str(project.uuid), "token": _token(project)}


def _ai_project(stamp: str, port: int, label: str) -> Any:
    # Imported here: the bench sets Django up at run time, before the project's modules load.
    from credentials.models import Credential, ProviderAssignment
    from projects import services

    project = services.create_project(name=f"bench {label} {stamp}", project_type="ai_gateway")
    credential = Credential(
        provider="openai",
        name=f"bench-{label}-{stamp}",
        api_key="sk-bench" + secrets.token_hex(24),
        base_url=f"http://127.0.0.1:{port}/v1",
    )
    credential.full_clean()
    credential.save()
    ProviderAssignment.objects.create(project=project, provider="openai", credential=credential)
    _limits_and_prices(project)
    return project


def _limits_and_prices(project: Any) -> None:
    """Budgets and rates on, never reached, and a price for the mock's model so cost is counted."""

    # Imported here: the bench sets Django up at run time, before the project's modules load.
    from gateways.ai.models import PriceOverride, UsageLimit

    UsageLimit.objects.create(
        project=project,
        daily_budget=Decimal("1000000"),
        monthly_budget=Decimal("10000000"),
        requests_per_minute=RATE_NEVER_REACHED,
        tokens_per_minute=RATE_NEVER_REACHED,
    )
    PriceOverride.objects.get_or_create(
        provider="openai",
        model="bench-model",
        defaults={"input_per_million": Decimal("0.15"), "output_per_million": Decimal("0.60")},
    )


def seed_ai(stamp: str, port: int, label: str = "ai") -> dict[str, Any]:
    try:
        project = _ai_project(stamp, port, label)
    except ImportError as exc:
        return {"unavailable": f"import failed: {exc}"}
    return {"uuid": str(project.uuid), "token": _token(project)}


def seed_ai_slow(stamp: str, port: int) -> dict[str, Any]:
    """The memory scenario's project: its credential points at the mock that keeps streams open."""
    return seed_ai(stamp, port, "ai-slow") if port else {"unavailable": "no slow LLM mock started"}


def seed_ai_guarded(stamp: str, port: int) -> dict[str, Any]:
    """The guardrails scenario's project: the chat project's setup plus the default rule set."""
    try:
        # Imported here: the bench sets Django up at run time, before the project's modules load.
        from bench import guardrails
    except ImportError as exc:
        return {"unavailable": f"import failed: {exc}"}
    project = _ai_project(stamp, port, "ai-guarded")
    guardrails.install(project)
    return {"uuid": str(project.uuid), "token": _token(project)}


def seed_ai_endpoint(stamp: str, port: int) -> dict[str, Any]:
    """An AI endpoint (issue 8: POST /api/{uuid}/ai/{slug}) over the same mock as the chat scenario."""
    try:
        # Imported here: the bench sets Django up at run time, before the project's modules load.
        from gateways.ai.models import AIEndpoint
    except ImportError as exc:
        return {"unavailable": f"AIEndpoint model not there yet ({exc})"}
    project = _ai_project(stamp, port, "ai-endpoint")
    endpoint = AIEndpoint(
        project=project,
        slug="hello",
        chain=[{"provider": "openai", "model": "bench-model"}],
        system_prompt="You are terse.",
        user_prompt="Say hello to {{ name }} in twenty short tokens.",
        variables=[{"name": "name", "type": "string", "required": True}],
        parameters={"max_tokens": 64},
    )
    endpoint.full_clean()
    endpoint.save()
    return {"uuid": str(project.uuid), "token": _token(project), "slug": endpoint.slug}


def seed_mcp(stamp: str, port: int) -> dict[str, Any]:
    try:
        # Imported here: the bench sets Django up at run time, before the project's modules load.
        from gateways.mcp.models import McpServer
        from projects import services
    except ImportError as exc:
        return {"unavailable": f"McpServer model not there yet ({exc})"}
    project = services.create_project(name=f"bench mcp {stamp}", project_type="mcp_gateway")
    server = McpServer(
        project=project,
        prefix="mock",
        upstream_url=f"http://127.0.0.1:{port}/mcp",
        enabled=True,
        rate_limit_per_minute=RATE_NEVER_REACHED,
    )
    server.full_clean()
    server.save()
    return {"uuid": str(project.uuid), "token": _token(project)}


def seed_mcp_fanout(stamp: str, port: int) -> dict[str, Any]:
    """bench/mcp_fanout.py: one project with one upstream, one with five (all the same mock)."""
    # Imported here: the bench sets Django up at run time, before the project's modules load.
    from gateways.mcp.models import McpServer
    from projects import services

    out: dict[str, Any] = {}
    for count in (1, 5):
        project = services.create_project(name=f"bench fanout {count} {stamp}", project_type="mcp_gateway")
        for index in range(count):
            server = McpServer(
                project=project, prefix=f"m{index}", upstream_url=f"http://127.0.0.1:{port}/mcp"
            )
            server.full_clean()
            server.save()
        out[str(count)] = {"uuid": str(project.uuid), "token": _token(project)}
    return out


def empty_request_log() -> None:
    """Each run starts with an empty request log. What a batch of rows costs to write depends on the
    table's size, and a soak leaves millions of rows behind: runs that inherit them are not comparable
    (a 4.8M-row SQLite table made a later run's chat at 1 connection 3x slower)."""

    # Imported here: the bench sets Django up at run time, before the project's modules load.
    from audit.models import RequestLog

    table = connection.ops.quote_name(RequestLog._meta.db_table)
    with connection.cursor() as cursor:
        # PostgreSQL: TRUNCATE is instant. SQLite: a DELETE without WHERE is its truncate optimisation.
        cursor.execute(f"TRUNCATE {table}" if connection.vendor == "postgresql" else f"DELETE FROM {table}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--llm-port", type=int, required=True)
    parser.add_argument("--mcp-port", type=int, required=True)
    parser.add_argument("--slow-llm-port", type=int, default=0, help="mock keeping streams open (memory)")
    args = parser.parse_args()
    _setup()

    empty_request_log()

    stamp = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)
    out: dict[str, Any] = {"http": seed_http(stamp, args.http_port)}
    # The AI and MCP gateways are still landing: a model or field that is not there yet is reported.
    seeders = (
        ("ai", seed_ai, args.llm_port),
        ("ai_endpoint", seed_ai_endpoint, args.llm_port),
        ("ai_guarded", seed_ai_guarded, args.llm_port),
        ("ai_slow", seed_ai_slow, args.slow_llm_port),
        ("mcp", seed_mcp, args.mcp_port),
        ("mcp_fanout", seed_mcp_fanout, args.mcp_port),
    )
    for name, seeder, port in seeders:
        try:
            out[name] = seeder(stamp, port)
        except (ValidationError, TypeError, ValueError, LookupError, ImportError) as exc:
            out[name] = {"unavailable": f"{type(exc).__name__}: {exc}"}
    sys.stdout.write("BENCH_SEED " + json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
