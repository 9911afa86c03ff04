"""Liveness (/healthz), readiness (/readyz: database, cache, rate limiter) and Prometheus /metrics."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from django.db import connections

from gateways.common import ratelimit, redis_clients, versioning
from gateways.common.http import JSONResponse, Response

if TYPE_CHECKING:
    from gateways.common.runtime import Runtime


def _database_ok() -> None:
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        connections.close_all()


async def healthz(runtime: Runtime) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(runtime: Runtime) -> Response:
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(sync_to_async(_database_ok, thread_sensitive=False)(), timeout=3)
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready; the class name says which
        checks["database"] = f"error: {type(exc).__name__}"
    if redis_clients.enabled():
        try:
            await asyncio.wait_for(redis_clients.async_client().ping(), timeout=2)
            checks["redis"] = "ok"
        except Exception as exc:  # noqa: BLE001 - same: report, never raise
            checks["redis"] = f"error: {type(exc).__name__}"
    else:
        checks["cache"] = "ok (in-process)"
    try:
        state, detail = ratelimit.health()
        checks["rate_limiter"] = state if state == "ok" else f"{state}: {detail}"
    except ImportError:
        pass
    failing = sorted(name for name, state in checks.items() if state.startswith("error"))
    writers = {w.name: w.stats() for w in runtime.writers}
    body: dict[str, Any] = {
        "status": "ok" if not failing else "unavailable",
        "checks": checks,
        "writers": writers,
    }
    if failing:
        body["failing"] = failing
        return JSONResponse(body, status=503)
    return JSONResponse(body)


async def metrics(runtime: Runtime) -> Response:
    lines = [
        "# HELP promptgate_requests_total Data-plane requests by gateway and status.",
        "# TYPE promptgate_requests_total counter",
    ]
    for (gateway, status), n in sorted(runtime.metrics.requests.items()):
        lines.append(f'promptgate_requests_total{{gateway="{gateway}",status="{status}"}} {n}')
    lines += [
        "# HELP promptgate_writer_items Background writer counters (submitted, written, dropped, pending).",
        "# TYPE promptgate_writer_items gauge",
    ]
    for writer in runtime.writers:
        for stat, value in writer.stats().items():
            lines.append(f'promptgate_writer_items{{writer="{writer.name}",stat="{stat}"}} {value}')
    lines += [
        "# HELP promptgate_config_version The shared config version this process has adopted.",
        "# TYPE promptgate_config_version gauge",
        f"promptgate_config_version {versioning.local_version.value}",
    ]
    body = ("\n".join(lines) + "\n").encode()
    return Response(body, content_type="text/plain; version=0.0.4; charset=utf-8")
