"""Control plane of the MCP gateway: management API (roles, validation, write-only token, test) and admin."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client
from django.urls import reverse
from mcp.server.mcpserver import MCPServer

from audit.models import AuditLog
from gateways.mcp.models import McpServer, McpSession
from projects.models import Role
from tests.gateways.mcp.conftest import LOOPBACK_ALLOWED, projects_url
from tests.gateways.mcp.upstreams import ALPHA_TOKEN, Upstream

pytestmark = pytest.mark.django_db

PUBLIC_URL = "https://93.184.216.34/mcp"
LONG_TOOL = "a_tool_name_that_is_long_enough_to_pass_the_limit_" + "x" * 10


def build_long():
    server = MCPServer("long")

    @server.tool(name=LONG_TOOL)
    def long_tool() -> str:
        return "ok"

    return server.streamable_http_app()


@pytest.fixture(scope="module")
def long_upstream() -> Iterator[Upstream]:
    upstream = Upstream(build_long).start()
    yield upstream
    upstream.stop()


def servers_url(project, tail: str = "") -> str:
    return projects_url(project, f"mcp-servers/{tail}")


@pytest.fixture
def mcp(make_project):
    return make_project("Tools hub", project_type="mcp_gateway")


def test_crud_and_write_only_token(root_client, mcp):
    created = root_client.post(
        servers_url(mcp),
        {"prefix": "files", "upstream_url": PUBLIC_URL, "bearer_token": "tok-SECRET-1"},
        format="json",
    )
    assert created.status_code == 201, created.content
    data = created.json()
    assert "bearer_token" not in data and data["has_bearer_token"] is True
    assert b"tok-SECRET-1" not in created.content
    server = McpServer.objects.get(pk=data["id"])
    assert server.bearer_token == "tok-SECRET-1"
    patched = root_client.patch(servers_url(mcp, f"{server.pk}/"), {"enabled": False}, format="json")
    assert patched.status_code == 200 and patched.json()["has_bearer_token"] is True
    cleared = root_client.patch(servers_url(mcp, f"{server.pk}/"), {"bearer_token": ""}, format="json")
    assert cleared.json()["has_bearer_token"] is False
    listed = root_client.get(servers_url(mcp)).json()
    items = listed["results"] if isinstance(listed, dict) else listed
    assert [s["prefix"] for s in items] == ["files"]
    audit = AuditLog.objects.filter(object_type="mcp.mcpserver")
    assert audit.exists() and all("tok-SECRET-1" not in str(row.after) + str(row.before) for row in audit)
    assert root_client.delete(servers_url(mcp, f"{server.pk}/")).status_code == 204


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"prefix": "bad prefix", "upstream_url": PUBLIC_URL}, "validation_error", "prefix"),
        ({"prefix": "a__b", "upstream_url": PUBLIC_URL}, "validation_error", "prefix"),
        ({"prefix": "trail_", "upstream_url": PUBLIC_URL}, "validation_error", "prefix"),
        ({"prefix": "ok", "upstream_url": "http://10.0.0.5/mcp"}, "ssrf_blocked", "upstream_url"),
        ({"prefix": "ok", "upstream_url": "http://127.0.0.1:9/mcp"}, "ssrf_blocked", "upstream_url"),
        ({"prefix": "ok", "upstream_url": PUBLIC_URL, "surprise": 1}, None, "surprise"),
        ({"prefix": "ok", "upstream_url": PUBLIC_URL, "timeout_seconds": 0}, None, "timeout_seconds"),
    ],
)
def test_validation(root_client, mcp, body, code, field):
    response = root_client.post(servers_url(mcp), body, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    if code:
        assert error["code"] == code
    assert field in error["fields"]


def test_prefix_unique_and_project_type(root_client, mcp, make_project):
    assert (
        root_client.post(
            servers_url(mcp), {"prefix": "x", "upstream_url": PUBLIC_URL}, format="json"
        ).status_code
        == 201
    )
    again = root_client.post(servers_url(mcp), {"prefix": "x", "upstream_url": PUBLIC_URL}, format="json")
    assert again.status_code == 400 and "prefix" in again.json()["error"]["fields"]
    api = make_project("Proxy", project_type="api_gateway")
    wrong = root_client.post(servers_url(api), {"prefix": "x", "upstream_url": PUBLIC_URL}, format="json")
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "wrong_project_type"


def test_roles(client_for, mcp, make_user):
    viewer = client_for(make_user("viewer", mcp, Role.VIEWER))
    admin = client_for(make_user("padmin", mcp, Role.ADMIN))
    outsider = client_for(make_user("outsider"))
    body = {"prefix": "r", "upstream_url": PUBLIC_URL}
    assert viewer.post(servers_url(mcp), body, format="json").status_code == 403
    created = admin.post(servers_url(mcp), body, format="json")
    assert created.status_code == 201
    assert viewer.get(servers_url(mcp)).status_code == 200
    assert viewer.post(servers_url(mcp, f"{created.json()['id']}/test/")).status_code == 403
    assert outsider.get(servers_url(mcp)).status_code == 404


def test_test_action_lists_tools_and_warns(root_client, mcp, long_upstream):
    with LOOPBACK_ALLOWED:
        created = root_client.post(
            servers_url(mcp), {"prefix": "longish", "upstream_url": long_upstream.url()}, format="json"
        )
        assert created.status_code == 201
        response = root_client.post(servers_url(mcp, f"{created.json()['id']}/test/"))
    assert response.status_code == 200, response.content
    data = response.json()
    assert [t["exposed_name"] for t in data["tools"]] == [f"longish__{LONG_TOOL}"]
    assert data["warnings"] and "64" in data["warnings"][0]
    assert McpServer.objects.get(pk=created.json()["id"]).last_status == "up"


def test_test_action_reports_a_down_upstream(root_client, mcp):
    with LOOPBACK_ALLOWED:
        server = McpServer(project=mcp, prefix="gone", upstream_url="http://127.0.0.1:9/mcp")
        server.full_clean()
        server.save()
        response = root_client.post(servers_url(mcp, f"{server.pk}/test/"))
    assert response.status_code == 502 and response.json()["error"]["code"] == "upstream_unreachable"
    server.refresh_from_db()
    assert server.last_status == "down"


def test_admin_add_change_and_test_button(admin_user, mcp, long_upstream):
    client = Client()
    client.force_login(admin_user)
    add = reverse("admin:mcp_mcpserver_add")
    form = {
        "project": str(mcp.pk),
        "prefix": "longish",
        "upstream_url": long_upstream.url(),
        "enabled": "on",
        "timeout_seconds": "30",
        "tool_timeout_seconds": "120",
        "protocol": "auto",
        "tool_allow": "[]",
        "tool_deny": "[]",
        "rate_limit_per_minute": "",
        "new_bearer_token": ALPHA_TOKEN,
    }
    with LOOPBACK_ALLOWED:
        response = client.post(add, form)
        assert response.status_code == 302, response.content.decode()[:2000]
        server = McpServer.objects.get(prefix="longish")
        assert server.bearer_token == ALPHA_TOKEN
        page = client.get(reverse("admin:mcp_mcpserver_change", args=[server.pk]))
        assert ALPHA_TOKEN not in page.content.decode() and "Test connection" in page.content.decode()
        tested = client.post(reverse("admin:mcp_mcpserver_test", args=[server.pk]), follow=True)
    text = tested.content.decode()
    assert "1 tools" in text and "many clients reject such names" in text
    McpServer.objects.filter(pk=server.pk).update(
        last_status="down", last_error="upstream refused the connection"
    )
    changelist = client.get(reverse("admin:mcp_mcpserver_changelist")).content.decode()
    assert "down" in changelist and "upstream refused the connection" in changelist
    change = client.get(reverse("admin:mcp_mcpserver_change", args=[server.pk])).content.decode()
    assert "was last seen down" in change


def test_admin_ssrf_refusal(admin_user, mcp):
    client = Client()
    client.force_login(admin_user)
    form = {
        "project": str(mcp.pk),
        "prefix": "internal",
        "upstream_url": "http://169.254.169.254/mcp",
        "enabled": "on",
        "timeout_seconds": "30",
        "tool_timeout_seconds": "120",
        "protocol": "auto",
        "tool_allow": "[]",
        "tool_deny": "[]",
    }
    response = client.post(reverse("admin:mcp_mcpserver_add"), form)
    assert response.status_code == 200 and not McpServer.objects.filter(prefix="internal").exists()


@pytest.mark.django_db(transaction=True)
def test_sessions_are_neither_audited_nor_config():
    from asgiref.sync import async_to_sync

    from gateways.common import versioning
    from gateways.mcp.sessions import DatabaseSessions

    before_audit, before_version = AuditLog.objects.count(), versioning.local_version.changes
    store = DatabaseSessions()
    session = async_to_sync(store.create)("00000000-0000-0000-0000-000000000001", 1, "2025-11-25")
    assert async_to_sync(store.get)(session.id).protocol_version == "2025-11-25"
    async_to_sync(store.save_upstream)(session.id, {"7": "2025-11-25 abc"})
    assert async_to_sync(store.get)(session.id).upstream == {"7": "2025-11-25 abc"}
    assert McpSession.objects.get().digest != session.id  # only a digest is stored
    async_to_sync(store.delete)(session.id)
    assert async_to_sync(store.get)(session.id) is None
    assert AuditLog.objects.count() == before_audit and versioning.local_version.changes == before_version
