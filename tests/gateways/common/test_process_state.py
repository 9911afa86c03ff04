"""Per-process state: every module's in-memory state is registered, and one reset forgets all of it."""

from __future__ import annotations

import importlib

import pytest

from gateways.ai import budget_store
from gateways.common import process_state, ratelimit
from gateways.common.runtime import Runtime

OWNERS = [
    "credentials.oauth.tokens",
    "gateways.ai.playground",
    "gateways.http.proxy",
    "gateways.mcp.aggregate",
    "gateways.mcp.health",
    "webhooks.budget_alerts",
]


def test_the_inventory_names_each_module_state() -> None:
    # Importing a module registers its state (the data plane's route table imports them all).
    for module in OWNERS:
        importlib.import_module(module)
    budget_store.local_store()  # made on first use, registered then
    names = set(process_state.names())
    assert {
        "ratelimit.redis_health",
        "ratelimit.memory_counters",
        "mcp.list_pages",
        "mcp.upstream_eras",
        "mcp.upstream_health",
        "mcp.upstream_sessions",
        "oauth.refreshes",
        "ai.playground_runtime",
        "ai.provider_health",
        "ai.budget_counters",
        "webhooks.budget_alerts_announced",
        "http.checked_names",
    } <= names


async def test_reset_forgets_what_the_process_learnt() -> None:
    from gateways.mcp import health, upstream

    limit = ratelimit.Limit("state-test", 1, 60, "minute")
    assert (await ratelimit._memory.hit_many([limit], 1))[0].allowed
    assert not (await ratelimit._memory.hit_many([limit], 1))[0].allowed
    ratelimit._health.failed(ConnectionError("simulated"))
    health._last[42] = "down"
    upstream.shared_sessions.set(42, "session-1")

    Runtime.reset_process_state()

    assert (await ratelimit._memory.hit_many([limit], 1))[0].allowed  # a fresh window
    assert ratelimit._health.down_since is None and ratelimit._health.failures == 0
    assert 42 not in health._last
    assert upstream.shared_sessions.get(42) is None


def test_a_name_is_registered_once() -> None:
    process_state.keep("tests.once", {})
    with pytest.raises(ValueError, match="already registered"):
        process_state.keep("tests.once", {})
