"""Router behaviour: JSON 404s alike for unknown and malformed uuids, 405 with Allow, headers, logs."""

from __future__ import annotations

import uuid

import pytest

from audit.models import RequestLog
from tests.helpers import orm

pytestmark = pytest.mark.django_db(transaction=True)


async def test_unknown_and_malformed_uuid_answer_the_same_404(gateway, project, amake_token):
    _, plaintext = await amake_token(project)
    headers = {"Authorization": f"Bearer {plaintext}"}
    unknown = await gateway.get(f"/api/{uuid.uuid4()}/info", headers=headers)
    malformed = await gateway.get("/api/not-a-uuid/info", headers=headers)
    assert unknown.status_code == malformed.status_code == 404
    assert unknown.json() == malformed.json() == {"error": {"code": "not_found", "message": "Not found"}}


async def test_unknown_route_and_bare_project_path(gateway, project):
    for path in (
        f"/api/{project.uuid}/",
        f"/api/{project.uuid}/nothing-here",
        f"/api/{project.uuid}/info/extra",
    ):
        r = await gateway.get(path)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", path


async def test_method_not_allowed_has_allow_header(gateway, project, amake_token):
    _, plaintext = await amake_token(project)
    r = await gateway.post(f"/api/{project.uuid}/info", headers={"Authorization": f"Bearer {plaintext}"})
    assert r.status_code == 405
    assert r.headers["allow"] == "GET"
    assert r.json()["error"]["code"] == "method_not_allowed"


async def test_request_id_and_overhead_headers(gateway, project, amake_token):
    _, plaintext = await amake_token(project)
    r = await gateway.get(
        f"/api/{project.uuid}/info",
        headers={"Authorization": f"Bearer {plaintext}", "X-Request-Id": "abc12345-req"},
    )
    assert r.headers["x-request-id"] == "abc12345-req"
    assert float(r.headers["x-promptgate-overhead-ms"]) >= 0
    r = await gateway.get(f"/api/{project.uuid}/info")
    assert len(r.headers["x-request-id"]) == 32  # minted when absent


async def test_introspection(gateway, project, amake_token):
    token, plaintext = await amake_token(project)
    headers = {"Authorization": f"Bearer {plaintext}"}
    info = (await gateway.get(f"/api/{project.uuid}/info", headers=headers)).json()
    assert info["uuid"] == str(project.uuid)
    assert info["project_type"] == "api_gateway" and info["is_active"] is True
    assert info["counts"]["tokens"] == 1
    tokens = (await gateway.get(f"/api/{project.uuid}/tokens", headers=headers)).json()["tokens"]
    assert [t["prefix"] for t in tokens] == [token.prefix]
    assert plaintext not in str(tokens) and token.digest not in str(tokens)
    assert "digest" not in tokens[0]
    endpoints = await gateway.get(f"/api/{project.uuid}/endpoints", headers=headers)
    assert endpoints.status_code == 200 and endpoints.json() == {"endpoints": []}


async def test_every_call_gets_a_request_log(gateway_app, gateway, project, amake_token):
    _, plaintext = await amake_token(project)
    await gateway.get(f"/api/{project.uuid}/info", headers={"Authorization": f"Bearer {plaintext}"})
    await gateway.get(f"/api/{project.uuid}/info")  # 401, still logged
    assert gateway_app.runtime.request_logs.wait_idle(5)
    rows = await orm(list)(RequestLog.objects.filter(project_uuid=project.uuid).order_by("time"))
    assert [r.status for r in rows] == [200, 401]
    assert rows[0].token_prefix == plaintext[:14] and rows[1].error_code == "missing_token"
    assert plaintext not in repr([r.__dict__ for r in rows])


async def test_health_endpoints(gateway):
    assert (await gateway.get("/healthz")).json() == {"status": "ok"}
    ready = await gateway.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["database"] == "ok"
    metrics = await gateway.get("/metrics")
    assert "promptgate_writer_items" in metrics.text
    assert "promptgate_config_version " in metrics.text


async def test_django_routes_answer_json_errors(gateway):
    r = await gateway.get("/manage/api/v1/definitely-not-here/")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = await gateway.get("/nowhere")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/json")


async def test_django_body_limit_is_413(gateway, settings):
    settings.PROMPTGATE_MAX_BODY_BYTES = 1000
    r = await gateway.post(
        "/manage/api/v1/projects/", content=b"x" * 5000, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"


async def test_v1_refusals_use_openai_error_shape_from_authentication_on(gateway, amake_project):
    """The OpenAI SDKs read error.type/param: even the router's own refusals on /v1 carry them."""
    ai = await amake_project("AI project", project_type="ai_gateway")
    r = await gateway.get(f"/api/{ai.uuid}/v1/models")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "missing_token"
    assert r.json()["error"]["type"] and "param" in r.json()["error"]
    wrapper = await amake_project("Wrapper project", project_type="ai_wrapper")
    r = await gateway.get(f"/api/{wrapper.uuid}/v1/models")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "route_not_in_project_type" and "type" in r.json()["error"]
    # Other routes keep PromptGate's own shape.
    r = await gateway.get(f"/api/{ai.uuid}/info")
    assert r.json() == {"error": {"code": "missing_token", "message": r.json()["error"]["message"]}}


async def test_readyz_names_the_failing_dependency(gateway, monkeypatch):
    from gateways.common import health

    def database_down() -> None:
        raise ConnectionRefusedError("database is down")

    monkeypatch.setattr(health, "_database_ok", database_down)
    r = await gateway.get("/readyz")
    assert r.status_code == 503
    assert r.json()["failing"] == ["database"]
    assert r.json()["checks"]["database"] == "error: ConnectionRefusedError"
