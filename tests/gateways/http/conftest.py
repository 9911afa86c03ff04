"""Fixtures for the API gateway: real upstreams, real gateway processes, and an api_gateway project; for its
control plane: URLs, a valid endpoint body, OAuth connections."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from django.test import override_settings

from credentials.models import OAuthConnection
from gateways.common import redis_clients
from gateways.common.runtime import Runtime
from gateways.common.transport import http_client
from gateways.http.models import ApiEndpoint
from tests.projects.admin.conftest import staff_client  # noqa: F401  (shared fixture)
from tests.projects.api.conftest import client_for, projects_url, root_client  # noqa: F401  (shared fixtures)
from tests.servers import GatewayProcess, running_gateway, running_gateways
from tests.upstreams import UpstreamServer

LOOPBACK_ALLOWED = override_settings(PROMPTGATE_SSRF_ALLOW=["127.0.0.0/8"])


@pytest.fixture(scope="session")
def upstream_server() -> Iterator[UpstreamServer]:
    with UpstreamServer() as server:
        yield server


@pytest.fixture(scope="session")
def gateway_process(django_db_setup, django_db_blocker) -> Iterator[GatewayProcess]:
    """One gateway process for the session; it serves the test database created above."""
    with running_gateway() as process:
        yield process


@pytest.fixture(scope="module")
def gateway_processes(django_db_setup, django_db_blocker) -> Iterator[list[GatewayProcess]]:
    """Two gateway processes sharing the database (and Redis, when configured)."""
    with running_gateways(2) as processes:
        yield processes


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


_FAILED = pytest.StashKey[bool]()


@pytest.fixture(autouse=True)
def _dump_gateway_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if not request.node.stash.get(_FAILED, False):
        return
    for name in ("gateway_process", "gateway_processes"):
        if name in request.fixturenames:
            value = request.getfixturevalue(name)
            for process in value if isinstance(value, list) else [value]:
                print(f"--- gateway on port {process.port} (alive={process.alive()}) ---")
                print(process.output()[-4000:])


def _new_project(name: str = "Proxy project", project_type: str = "api_gateway") -> Any:
    from audit import context
    from projects import services

    with context.bind(actor=context.SYSTEM):
        return services.create_project(name=f"{name} {uuid.uuid4().hex[:6]}", project_type=project_type)


@dataclass
class Api:
    """An api_gateway project, a proxy token, and a way to publish upstreams under it.

    Built with committed rows: tests against a gateway process need no django_db mark (and no
    flush of every table after each test); `db()` opens the database for their own queries.
    """

    project: Any
    token: str
    blocker: Any = None  # pytest-django's blocker when the test itself holds no database access

    def db(self) -> contextlib.AbstractContextManager[Any]:
        return self.blocker.unblock() if self.blocker is not None else contextlib.nullcontext()

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def path(self, slug: str, tail: str = "") -> str:
        return f"/api/{self.project.uuid}/proxy/{slug}{tail}"

    def make_token(self, project: Any, scopes: list[str], name: str = "test") -> tuple[Any, str]:
        from projects import services

        with self.db():
            return services.issue_token(project, name=name, scopes=scopes)

    def make_project(self, name: str, project_type: str = "api_gateway") -> Any:
        with self.db():
            return _new_project(name, project_type)

    def endpoint(self, slug: str, upstream_url: str, *, validate: bool = True, **fields: Any) -> ApiEndpoint:
        inject = fields.pop("inject_headers", None)
        endpoint = ApiEndpoint(project=self.project, slug=slug, upstream_url=upstream_url, **fields)
        if inject:
            endpoint.inject_headers = inject
        with self.db(), LOOPBACK_ALLOWED:
            if validate:
                endpoint.full_clean()
            endpoint.save()
        return endpoint


def _build_api(blocker: Any = None) -> Api:
    api = Api(project=None, token="", blocker=blocker)
    api.project = api.make_project("Proxy project")
    _, api.token = api.make_token(api.project, scopes=["proxy"])
    return api


@pytest.fixture
def api(django_db_setup, django_db_blocker) -> Api:
    """For tests against gateway processes (no django_db mark): rows committed as they are made."""
    return _build_api(django_db_blocker)


@pytest.fixture
async def aapi(db) -> Api:
    """For in-process tests marked django_db(transaction=True)."""
    from tests.helpers import orm

    return await orm(_build_api)()


@pytest.fixture
def live(gateway_process) -> Iterator[httpx.Client]:
    """A plain HTTP client on the gateway process (real sockets, real uvicorn)."""
    with httpx.Client(base_url=gateway_process.url(), timeout=30) as client:
        yield client


@pytest.fixture
async def _clean_network_state() -> AsyncIterator[None]:
    """In-process tests: fresh limiter state, and the shared client closed on this test's loop."""
    Runtime.reset_process_state()
    yield
    await http_client.close_client()
    if redis_clients._async_clients.get(asyncio.get_running_loop()) is not None:
        await redis_clients.close_async_client()


def raw_request(port: int, target: bytes, method: bytes = b"GET", headers: bytes = b"") -> tuple[int, bytes]:
    """Send a request line byte for byte (httpx would normalise the path) and return (status, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            method
            + b" "
            + target
            + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            + headers
            + b"\r\n"
        )
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in head.lower():
        body = _unchunk(body)
    return status, body


def _unchunk(body: bytes) -> bytes:
    out = b""
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2 :]
    return out


# A public literal address: valid everywhere, and no DNS lookup at save time.
PUBLIC_URL = "https://93.184.216.34/v1"
SECRET = "inject-secret-Zq81LmX4"


def endpoints_url(project, tail: str = "") -> str:
    return projects_url(project, f"api-endpoints/{tail}")


def body(**overrides) -> dict:
    data = {
        "slug": "weather",
        "upstream_url": PUBLIC_URL,
        "allowed_methods": ["GET", "POST"],
        "inject_headers": {"X-Upstream-Key": SECRET},
    }
    data.update(overrides)
    return data


@pytest.fixture
def make_connection(db):
    def make(project, name: str = "github") -> OAuthConnection:
        return OAuthConnection.objects.create(
            project=project, name=name, provider="github", client_id="cid", client_secret="csecret"
        )

    return make
