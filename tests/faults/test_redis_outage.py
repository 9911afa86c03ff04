"""Issue 17, point 1 and the fault suite: Redis stopped and restarted under traffic, on every gateway.

A private redis-server (tests/faults/redis_server.py) backs three gateway processes: two in the
default `closed` failure mode, one in `open` mode. Traffic runs on the API gateway (rate limit and
token cap: GCRA script and counter), the AI gateway (admission script: rates and budgets) and the MCP
gateway in both protocols, and an AI endpoint with sessions (a Redis lock per turn) (session-based initialize + tools/list through the Redis session store, and
stateless 2026-07-28). Redis is killed and started again, twice. Checked: no answer is ever a 500;
while Redis is away closed mode answers the documented 503 and open mode serves what it can serve
without Redis (limits, caps, budgets), /readyz reports it, every gateway answers 200 again within 2 s
of the restart, and the request log holds one row for every answer given.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from django.test import override_settings

from audit import context
from tests.faults.redis_server import RedisServer
from tests.gateways.mcp.upstreams import Upstream, build_gamma
from tests.mock_llm import KEYS
from tests.servers import GatewayProcess
from tests.upstreams import UpstreamServer

LOOPBACK_ALLOWED = override_settings(PROMPTGATE_SSRF_ALLOW=["127.0.0.0/8"])
SESSION_VERSION = "2025-06-18"
MODERN = "2026-07-28"
CYCLES = 2
RECOVERY_SECONDS = 2.0  # the issue's bound, from redis-server answering PING to every gateway serving


@dataclass
class World:
    projects: dict[str, Any]
    tokens: dict[str, str]
    answers: Counter[str] = field(default_factory=Counter)  # per project uuid


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.close()


@pytest.fixture(scope="module")
def upstreams(mock_llm) -> Iterator[dict[str, Any]]:
    with UpstreamServer() as http, Upstream(build_gamma) as mcp:
        yield {"http": http, "llm": mock_llm, "mcp": mcp}


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, upstreams) -> World:
    from credentials.models import Credential, ProviderAssignment
    from gateways.ai.models import AIEndpoint, UsageLimit
    from gateways.http.models import ApiEndpoint
    from gateways.mcp.models import McpServer
    from projects import services

    projects, tokens = {}, {}
    with django_db_blocker.unblock(), context.bind(actor=context.SYSTEM), LOOPBACK_ALLOWED:
        for kind in ("api_gateway", "ai_gateway", "mcp_gateway"):
            projects[kind] = services.create_project(name=f"Faults {kind}", project_type=kind)
            scope = {"api_gateway": "proxy", "ai_gateway": "ai", "mcp_gateway": "mcp"}[kind]
            # A request cap puts the token counter (Redis) on every request of every gateway.
            _, tokens[kind] = services.issue_token(
                projects[kind], name="faults", scopes=[scope], max_requests=10**9
            )
        endpoint = ApiEndpoint(
            project=projects["api_gateway"],
            slug="svc",
            upstream_url=upstreams["http"].url("/echo"),
            rate_limit_per_minute=1_000_000,
            rate_limit_per_hour=10_000_000,
        )
        endpoint.full_clean()
        endpoint.save()
        credential = Credential.objects.create(
            provider="openai",
            name="faults",
            api_key=KEYS["openai"],
            base_url=upstreams["llm"].base_url("openai"),
        )
        ProviderAssignment.objects.create(
            project=projects["ai_gateway"], provider="openai", credential=credential
        )
        endpoint_row = AIEndpoint(
            project=projects["ai_gateway"],
            slug="summarise",
            chain=[{"provider": "openai", "model": "gpt-4o-mini"}],
            system_prompt="You summarise texts.",
            user_prompt="Summarise: {{ text }}",
            variables=[{"name": "text", "type": "string", "required": True}],
            sessions_enabled=True,
        )
        endpoint_row.full_clean()
        endpoint_row.save()
        UsageLimit.objects.create(
            project=projects["ai_gateway"], daily_budget=1000, requests_per_minute=1_000_000
        )
        server = McpServer(
            project=projects["mcp_gateway"], prefix="gamma", upstream_url=upstreams["mcp"].url()
        )
        server.full_clean()
        server.save()
    return World(projects, tokens)


@pytest.fixture(scope="module")
def gateways(redis_server, world) -> Iterator[dict[str, GatewayProcess]]:
    prefix = f"faults{time.monotonic_ns()}"  # one namespace: the processes share limits and sessions
    started: dict[str, GatewayProcess] = {}
    try:
        for name, mode in (("closed-1", "closed"), ("closed-2", "closed"), ("open", "open")):
            started[name] = GatewayProcess(
                REDIS_URL=redis_server.url,
                PROMPTGATE_REDIS_PREFIX=prefix,
                PROMPTGATE_RATE_LIMIT_FAILURE_MODE=mode,
                PROMPTGATE_AI_ATTEMPT_TIMEOUT="5",
            ).start()
        yield started
    finally:
        for process in started.values():
            process.stop()
            process.cleanup()


# --- one request per probe: (project kind, status) ----------------------------------------------


def _auth(world: World, kind: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.tokens[kind]}"}


def _base(gateway: GatewayProcess, world: World, kind: str) -> str:
    return gateway.url(f"/api/{world.projects[kind].uuid}")


def probe_proxy(client: httpx.Client, gateway: GatewayProcess, world: World) -> list[int]:
    r = client.get(_base(gateway, world, "api_gateway") + "/proxy/svc/x", headers=_auth(world, "api_gateway"))
    return [r.status_code]


def probe_ai(client: httpx.Client, gateway: GatewayProcess, world: World) -> list[int]:
    body = {"model": "openai:gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    r = client.post(
        _base(gateway, world, "ai_gateway") + "/v1/chat/completions",
        json=body,
        headers=_auth(world, "ai_gateway"),
    )
    return [r.status_code]


def probe_ai_session(client: httpx.Client, gateway: GatewayProcess, world: World) -> list[int]:
    """An AI endpoint with sessions: a new conversation, then its next turn (a Redis lock each)."""
    url = _base(gateway, world, "ai_gateway") + "/ai/summarise"
    r = client.post(url, json={"variables": {"text": "one"}}, headers=_auth(world, "ai_gateway"))
    statuses = [r.status_code]
    if r.status_code == 200:
        body = {"variables": {"text": "two"}, "session_id": r.json()["session_id"]}
        statuses.append(client.post(url, json=body, headers=_auth(world, "ai_gateway")).status_code)
    return statuses


def _rpc(method: str, params: dict[str, Any], id: int = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id, "method": method, "params": params}


def probe_mcp_sessions(client: httpx.Client, gateway: GatewayProcess, world: World) -> list[int]:
    """initialize (a session written to Redis), then tools/list in that session (read from Redis)."""
    url = _base(gateway, world, "mcp_gateway") + "/mcp"
    headers = {**_auth(world, "mcp_gateway"), "Accept": "application/json, text/event-stream"}
    init = {
        "protocolVersion": SESSION_VERSION,
        "capabilities": {},
        "clientInfo": {"name": "faults", "version": "1"},
    }
    r = client.post(url, json=_rpc("initialize", init), headers=headers)
    statuses = [r.status_code]
    session = r.headers.get("mcp-session-id")
    if r.status_code == 200 and session:
        session_headers = {**headers, "Mcp-Session-Id": session, "MCP-Protocol-Version": SESSION_VERSION}
        r = client.post(url, json=_rpc("tools/list", {}, 2), headers=session_headers)
        statuses.append(r.status_code)
    return statuses


def probe_mcp_modern(client: httpx.Client, gateway: GatewayProcess, world: World) -> list[int]:
    """The stateless 2026-07-28 revision: no session, but the token cap and config still use Redis."""
    url = _base(gateway, world, "mcp_gateway") + "/mcp"
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "faults", "version": "1"},
    }
    headers = {
        **_auth(world, "mcp_gateway"),
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": MODERN,
        "Mcp-Method": "tools/list",
    }
    r = client.post(url, json=_rpc("tools/list", {"_meta": meta}), headers=headers)
    return [r.status_code]


PROBES: dict[str, tuple[str, Callable[[httpx.Client, GatewayProcess, World], list[int]]]] = {
    "http proxy": ("api_gateway", probe_proxy),
    "ai chat": ("ai_gateway", probe_ai),
    "ai endpoint sessions": ("ai_gateway", probe_ai_session),
    "mcp sessions": ("mcp_gateway", probe_mcp_sessions),
    "mcp 2026-07-28": ("mcp_gateway", probe_mcp_modern),
}
# What open mode can serve without Redis: limits, token caps and budgets fail open; a session store
# cannot (the session would be lost), so session-based MCP answers 503 in both modes.
OPEN_SERVES = {"http proxy", "ai chat", "mcp 2026-07-28"}


def run_round(
    client: httpx.Client, gateways: dict[str, GatewayProcess], world: World
) -> dict[tuple[str, str], list[int]]:
    seen: dict[tuple[str, str], list[int]] = {}
    for gname, gateway in gateways.items():
        for pname, (kind, probe) in PROBES.items():
            statuses = probe(client, gateway, world)
            world.answers[str(world.projects[kind].uuid)] += len(statuses)
            seen[(gname, pname)] = statuses
    return seen


def readyz(client: httpx.Client, gateway: GatewayProcess) -> int:
    return client.get(gateway.url("/readyz")).status_code


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, f"{what}: not within {timeout}s"
        time.sleep(0.02)
    return time.monotonic() - started


def test_redis_outages_under_traffic(world, gateways, redis_server, django_db_blocker):
    faults = survived = 0
    statuses: Counter[int] = Counter()
    recoveries: list[float] = []
    with httpx.Client(timeout=30) as client:
        for seen in [run_round(client, gateways, world) for _ in range(3)]:
            for key, got in seen.items():
                statuses.update(got)
                assert set(got) == {200}, (key, got)
        for _cycle in range(CYCLES):
            redis_server.stop()
            faults += 1
            for gateway in gateways.values():
                wait_until(lambda g=gateway: readyz(client, g) == 503, 2.0, "/readyz reporting Redis down")
            for _ in range(3):
                for (gname, pname), got in run_round(client, gateways, world).items():
                    statuses.update(got)
                    assert 500 not in got, (gname, pname, got)
                    expected = 200 if gname == "open" and pname in OPEN_SERVES else 503
                    assert got[0] == expected, (gname, pname, got)
            redis_server.start()
            restarted = time.monotonic()
            while True:
                # Timed from the restart to the start of the first round in which everything served:
                # the round's own length (20-odd requests on a busy machine) is not recovery time.
                round_started = time.monotonic() - restarted
                seen = run_round(client, gateways, world)
                for got in seen.values():
                    statuses.update(got)
                    assert 500 not in got, seen
                if all(set(got) == {200} for got in seen.values()):
                    break
                assert round_started < RECOVERY_SECONDS, (
                    f"not serving again {round_started:.2f}s after the restart"
                )
            assert round_started <= RECOVERY_SECONDS, round_started
            recoveries.append(round_started)
            for gateway in gateways.values():
                wait_until(lambda g=gateway: readyz(client, g) == 200, 2.0, "/readyz reporting Redis back")
            survived += 1
    assert statuses[500] == 0
    print(
        f"fault suite: {faults} Redis outages injected under traffic on {len(gateways)} gateway processes, "
        f"{survived} survived; answers {dict(statuses)}; recovery {', '.join(f'{r:.2f}s' for r in recoveries)}"
    )
    with django_db_blocker.unblock():
        assert_every_answer_logged(world)


def assert_every_answer_logged(world: World) -> None:
    """The request log holds one row per answer (written by the gateways' batched writers)."""
    from django.db import connections

    from audit.models import RequestLog

    def counts() -> dict[str, int]:
        rows = RequestLog.objects.filter(project_uuid__in=[p.uuid for p in world.projects.values()])
        got: Counter[str] = Counter(str(u) for u in rows.values_list("project_uuid", flat=True))
        connections.close_all()
        return dict(got)

    deadline = time.monotonic() + 30
    while counts() != dict(world.answers):
        assert time.monotonic() < deadline, (counts(), dict(world.answers))
        time.sleep(0.1)
