"""Fixtures for the MCP gateway: real SDK upstreams, real gateway processes, an mcp_gateway project."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import httpx2
import pytest
from django.test import override_settings
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client

from gateways.mcp.models import McpServer
from tests.gateways.mcp.upstreams import ALPHA_TOKEN, Upstream, build_alpha, build_beta, build_gamma
from tests.projects.api.conftest import client_for, projects_url, root_client  # noqa: F401  (shared fixtures)
from tests.servers import GatewayProcess, running_gateways

LOOPBACK_ALLOWED = override_settings(PROMPTGATE_SSRF_ALLOW=["127.0.0.0/8"])
ALLOWED_ORIGIN = "https://app.example.com"
MAX_MESSAGE_BYTES = 65536


@pytest.fixture(scope="module")
def upstreams() -> Iterator[dict[str, Upstream]]:
    servers = {
        "alpha": Upstream(build_alpha, token=ALPHA_TOKEN),
        "beta": Upstream(build_beta),
        "gamma": Upstream(build_gamma),
    }
    try:
        for server in servers.values():
            server.start()
        yield servers
    finally:
        for server in servers.values():
            server.stop()


@pytest.fixture(autouse=True)
def _clear_records(request: pytest.FixtureRequest) -> None:
    if "upstreams" in request.fixturenames:
        for server in request.getfixturevalue("upstreams").values():
            server.recorder.headers.clear()


@pytest.fixture(scope="module")
def gateways(django_db_setup, django_db_blocker) -> Iterator[list[GatewayProcess]]:
    """Two gateway processes sharing the database (and Redis when configured)."""
    env = {
        "PROMPTGATE_MCP_ALLOWED_ORIGINS": ALLOWED_ORIGIN,
        "PROMPTGATE_MCP_MAX_MESSAGE_BYTES": str(MAX_MESSAGE_BYTES),
        "PROMPTGATE_MCP_LIST_CACHE_SECONDS": "2",
    }
    with running_gateways(2, **env) as processes:
        yield processes


@dataclass
class McpProject:
    project: Any
    token: str
    servers: dict[str, McpServer]

    def path(self) -> str:
        return f"/api/{self.project.uuid}/mcp"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def add_server(project: Any, prefix: str, url: str, **fields: Any) -> McpServer:
    server = McpServer(project=project, prefix=prefix, upstream_url=url, **fields)
    with LOOPBACK_ALLOWED:
        server.full_clean()
    server.save()
    return server


@pytest.fixture
def mcp_project(make_project, make_token, upstreams) -> McpProject:
    project = make_project("MCP project", project_type="mcp_gateway")
    _, token = make_token(project, scopes=["mcp"])
    servers = {
        "alpha": add_server(project, "alpha", upstreams["alpha"].url(), bearer_token=ALPHA_TOKEN),
        "beta": add_server(project, "beta", upstreams["beta"].url(), protocol="legacy"),
        "gamma": add_server(project, "gamma", upstreams["gamma"].url()),
    }
    return McpProject(project, token, servers)


@asynccontextmanager
async def sdk_client(url: str, token: str, mode: str = "auto", **headers: str) -> AsyncIterator[Client]:
    """The `mcp` SDK's client, as a user would run it, with the project token."""
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}", **headers}, timeout=30)
    async with http:
        async with Client(streamable_http_client(url, http_client=http), mode=mode) as client:
            yield client


def rpc(method: str, params: dict[str, Any] | None = None, id: int | None = 1) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        message["params"] = params
    if id is not None:
        message["id"] = id
    return message


MODERN = "2026-07-28"
MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
}


def modern_headers(method: str, name: str | None = None) -> dict[str, str]:
    headers = {
        "MCP-Protocol-Version": MODERN,
        "Mcp-Method": method,
        "Accept": "application/json, text/event-stream",
    }
    if name is not None:
        headers["Mcp-Name"] = name
    return headers


def modern(method: str, params: dict[str, Any] | None = None, id: int = 1) -> dict[str, Any]:
    return rpc(method, {**(params or {}), "_meta": dict(MODERN_META)}, id)


def post(gateway: GatewayProcess, project: McpProject, body: Any, **headers: str) -> httpx.Response:
    base = {"Accept": "application/json, text/event-stream", **project.auth}
    return httpx.post(gateway.url(project.path()), json=body, headers={**base, **headers}, timeout=30)
