"""The protocol layer through a real gateway process: both eras, errors, sessions, framing, Origin, auth."""

from __future__ import annotations

import httpx
import orjson
import pytest

from tests.gateways.mcp.conftest import (
    ALLOWED_ORIGIN,
    MAX_MESSAGE_BYTES,
    MODERN,
    modern,
    modern_headers,
    post,
    rpc,
)

pytestmark = pytest.mark.django_db(transaction=True)


def initialize(gateway, project, version: str = "2025-11-25") -> tuple[str, dict]:
    params = {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}
    response = post(gateway, project, rpc("initialize", params))
    assert response.status_code == 200, response.text
    session = response.headers["mcp-session-id"]
    note = post(gateway, project, rpc("notifications/initialized", id=None), **{"Mcp-Session-Id": session})
    assert note.status_code == 202
    return session, response.json()["result"]


def test_modern_discover_and_result_shape(gateways, mcp_project):
    response = post(gateways[0], mcp_project, modern("server/discover"), **modern_headers("server/discover"))
    assert response.status_code == 200
    assert "mcp-session-id" not in response.headers
    result = response.json()["result"]
    assert result["supportedVersions"] == [MODERN]
    assert result["resultType"] == "complete" and result["cacheScope"] == "private" and result["ttlMs"] == 0
    assert set(result["capabilities"]) == {"tools", "resources", "prompts"}


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        (modern_headers("tools/call"), -32020),  # Mcp-Method differs from the body
        ({**modern_headers("tools/list"), "MCP-Protocol-Version": "2099-01-01"}, -32020),
    ],
)
def test_modern_header_mismatch(gateways, mcp_project, headers, code):
    response = post(gateways[0], mcp_project, modern("tools/list"), **headers)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


def test_modern_name_header_checked_against_body(gateways, mcp_project):
    body = modern("tools/call", {"name": "alpha__add", "arguments": {"a": 1, "b": 1}})
    response = post(gateways[0], mcp_project, body, **modern_headers("tools/call", "beta__echo"))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32020


def test_modern_envelope_and_versions(gateways, mcp_project):
    no_meta = post(gateways[0], mcp_project, rpc("tools/list", {}), **modern_headers("tools/list"))
    assert no_meta.status_code == 400 and no_meta.json()["error"]["code"] == -32602
    body = modern("tools/list")
    body["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] = "2099-01-01"
    headers = {**modern_headers("tools/list"), "MCP-Protocol-Version": "2099-01-01"}
    unsupported = post(gateways[0], mcp_project, body, **headers)
    assert unsupported.status_code == 400
    error = unsupported.json()["error"]
    assert error["code"] == -32022 and error["data"]["supported"] == [MODERN]


def test_json_rpc_error_codes(gateways, mcp_project):
    gateway, headers = gateways[0], {**mcp_project.auth, "Content-Type": "application/json"}
    parse = httpx.post(gateway.url(mcp_project.path()), content=b"{not json", headers=headers)
    assert parse.status_code == 400 and parse.json() == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": -32700, "message": "Parse error"},
    }
    bad = post(
        gateway,
        mcp_project,
        {"jsonrpc": "1.0", "id": 1, "method": "tools/list"},
        **modern_headers("tools/list"),
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == -32600
    unknown = post(gateway, mcp_project, modern("nope/nope"), **modern_headers("nope/nope"))
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == -32601, unknown.text
    no_name = post(
        gateway, mcp_project, modern("tools/call", {"arguments": {}}), **modern_headers("tools/call")
    )
    assert no_name.status_code == 400 and no_name.json()["error"]["code"] == -32602
    batch = post(gateway, mcp_project, [modern("tools/list")], **modern_headers("tools/list"))
    assert batch.status_code == 400 and batch.json()["error"]["code"] == -32600
    # Session-based revisions answer method errors inside a 200, as JSON-RPC over HTTP does.
    session, _ = initialize(gateway, mcp_project)
    legacy = post(gateway, mcp_project, rpc("nope/nope"), **{"Mcp-Session-Id": session})
    assert legacy.status_code == 200 and legacy.json()["error"]["code"] == -32601


def test_notifications_answer_202(gateways, mcp_project):
    note = rpc("notifications/cancelled", {"requestId": 1}, id=None)
    assert (
        post(gateways[0], mcp_project, note, **modern_headers("notifications/cancelled")).status_code == 202
    )


def test_oversized_message_refused(gateways, mcp_project):
    body = modern("tools/call", {"name": "beta__echo", "arguments": {"text": "x" * (MAX_MESSAGE_BYTES + 10)}})
    response = post(gateways[0], mcp_project, body, **modern_headers("tools/call", "beta__echo"))
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == -32600 and str(MAX_MESSAGE_BYTES) in error["message"]


def test_origin_validation(gateways, mcp_project):
    body, headers = modern("server/discover"), modern_headers("server/discover")
    evil = post(gateways[0], mcp_project, body, **headers, Origin="https://evil.example")
    assert evil.status_code == 403 and evil.json()["error"]["code"] == -32600
    assert post(gateways[0], mcp_project, body, **headers, Origin=ALLOWED_ORIGIN).status_code == 200
    own = f"http://127.0.0.1:{gateways[0].port}"
    assert post(gateways[0], mcp_project, body, **headers, Origin=own).status_code == 200
    assert post(gateways[0], mcp_project, body, **headers, Origin="null").status_code == 403


def test_sse_when_the_client_only_accepts_sse(gateways, mcp_project):
    headers = {**modern_headers("server/discover"), "Accept": "text/event-stream"}
    response = post(gateways[0], mcp_project, modern("server/discover"), **headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    data = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
    assert orjson.loads(data[0])["result"]["supportedVersions"] == [MODERN]


@pytest.mark.parametrize(
    ("offered", "agreed"),
    [
        ("2025-11-25", "2025-11-25"),
        ("2025-06-18", "2025-06-18"),
        ("2025-03-26", "2025-03-26"),
        ("2024-01-01", "2025-11-25"),
    ],
)
def test_session_lifecycle(gateways, mcp_project, offered, agreed):
    gateway = gateways[0]
    session, result = initialize(gateway, mcp_project, offered)
    assert result["protocolVersion"] == agreed and "resultType" not in result
    headers = {"Mcp-Session-Id": session, "MCP-Protocol-Version": agreed}
    listed = post(gateway, mcp_project, rpc("tools/list"), **headers)
    assert listed.status_code == 200 and "resultType" not in listed.json()["result"]
    # GET opens the session's listening stream (list_changed notifications arrive there).
    with httpx.stream(
        "GET", gateway.url(mcp_project.path()), headers={**mcp_project.auth, **headers}, timeout=10
    ) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"] == "text/event-stream"
        assert next(stream.iter_bytes()).startswith(b": listening")
    ended = httpx.delete(gateway.url(mcp_project.path()), headers={**mcp_project.auth, **headers})
    assert ended.status_code == 200
    gone = post(gateway, mcp_project, rpc("tools/list"), **headers)
    assert gone.status_code == 404 and gone.json()["error"]["message"] == "Session not found"


def test_session_errors(gateways, mcp_project, make_token):
    gateway = gateways[0]
    missing = post(gateway, mcp_project, rpc("tools/list"))
    assert missing.status_code == 400 and missing.json()["error"]["code"] == -32600
    unknown = post(gateway, mcp_project, rpc("tools/list"), **{"Mcp-Session-Id": "mcps_nope"})
    assert unknown.status_code == 404
    session, _ = initialize(gateway, mcp_project)
    wrong_version = post(
        gateway,
        mcp_project,
        rpc("tools/list"),
        **{"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-06-18"},
    )
    assert wrong_version.status_code == 400
    _, other = make_token(mcp_project.project, scopes=["mcp"], name="other")
    stolen = httpx.post(
        gateway.url(mcp_project.path()),
        json=rpc("tools/list"),
        headers={"Authorization": f"Bearer {other}", "Mcp-Session-Id": session, "Accept": "application/json"},
    )
    assert stolen.status_code == 404  # a session belongs to the token that opened it


def test_batches_only_under_2025_03_26(gateways, mcp_project):
    gateway = gateways[0]
    old, _ = initialize(gateway, mcp_project, "2025-03-26")
    batch = [
        rpc("ping", id=1),
        rpc("notifications/initialized", id=None),
        rpc("tools/call", {"name": "beta__shout", "arguments": {"text": "hi"}}, id=2),
    ]
    response = post(gateway, mcp_project, batch, **{"Mcp-Session-Id": old})
    assert response.status_code == 200
    replies = response.json()
    assert [r["id"] for r in replies] == [1, 2]
    assert replies[1]["result"]["content"][0]["text"] == "HI"
    assert post(gateway, mcp_project, [], **{"Mcp-Session-Id": old}).status_code == 400
    new, _ = initialize(gateway, mcp_project, "2025-11-25")
    refused = post(gateway, mcp_project, [rpc("ping")], **{"Mcp-Session-Id": new})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == -32600


def test_tokens_and_project_types(gateways, mcp_project, make_token, make_project):
    gateway, body, headers = gateways[0], modern("server/discover"), modern_headers("server/discover")
    url = gateway.url(mcp_project.path())
    assert (
        httpx.post(url, json=body, headers={**headers, "Authorization": "Bearer pg_test_nope"}).status_code
        == 401
    )
    assert httpx.post(url, json=body, headers=headers).status_code == 401
    _, proxy_only = make_token(mcp_project.project, scopes=["proxy"], name="proxy")
    assert (
        httpx.post(url, json=body, headers={**headers, "Authorization": f"Bearer {proxy_only}"}).status_code
        == 403
    )
    api = make_project("Not MCP", project_type="api_gateway")
    _, api_token = make_token(api, scopes=["mcp"])
    other = httpx.post(
        gateway.url(f"/api/{api.uuid}/mcp"),
        json=body,
        headers={**headers, "Authorization": f"Bearer {api_token}"},
    )
    assert other.status_code == 404 and other.json()["error"]["code"] == "route_not_in_project_type"
