"""Embeddings as clients ask for them: base64 for every provider, dimensions, token-id input."""

from __future__ import annotations

import base64
import struct

import httpx
import pytest

from tests.gateways.ai import node_client
from tests.mock_llm_formats import vector

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="session")
def node_sdk() -> None:
    node_client.install()


def _post(world, gateway, body: dict) -> httpx.Response:
    gateway.sync_config()
    return httpx.post(
        gateway.url(f"/api/{world.uuid}/v1/embeddings"),
        headers={"Authorization": f"Bearer {world.token}"},
        json=body,
        timeout=20,
    )


def _decode(text: str) -> list[float]:
    raw = base64.b64decode(text)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def test_node_sdk_default_call_decodes_the_real_vector(world, gateway_proc, node_sdk):
    gateway_proc.sync_config()
    result = node_client.run(
        "embeddings.mjs",
        BASE_URL=gateway_proc.url(f"/api/{world.uuid}/v1"),
        API_KEY=world.token,
        MODEL="text-embedding-3-small",
    )
    assert [[round(x, 6) for x in v] for v in result["vectors"]] == [vector("a"), vector("b")]


@pytest.mark.parametrize("model", ["openai:text-embedding-3-small", "gemini:text-embedding-004"])
def test_base64_and_dimensions_for_every_provider(providers, gateway_proc, mock_llm, model):
    floats = _post(providers, gateway_proc, {"model": model, "input": ["hello"], "dimensions": 5}).json()
    assert floats["data"][0]["embedding"] == vector("hello", 5)
    encoded = _post(
        providers,
        gateway_proc,
        {"model": model, "input": "hello", "encoding_format": "base64", "dimensions": 4},
    ).json()
    assert isinstance(encoded["data"][0]["embedding"], str)
    assert _decode(encoded["data"][0]["embedding"]) == pytest.approx(vector("hello", 4), rel=1e-6)
    sent = mock_llm.last().body
    assert "encoding_format" not in sent  # upstream always answers floats
    assert sent.get("dimensions", sent.get("outputDimensionality")) == 4


def test_token_ids_pass_to_openai_and_are_refused_clearly_elsewhere(providers, gateway_proc, mock_llm):
    ok = _post(providers, gateway_proc, {"model": "openai:text-embedding-3-small", "input": [[1, 2], [3]]})
    assert ok.status_code == 200 and len(ok.json()["data"]) == 2
    assert mock_llm.last().body["input"] == [[1, 2], [3]]
    refused = _post(providers, gateway_proc, {"model": "gemini:text-embedding-004", "input": [1, 2, 3]})
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "unsupported_input"
    assert "gemini does not take token-id input" in refused.json()["error"]["message"]
    none = _post(providers, gateway_proc, {"model": "anthropic:claude-3-5-haiku", "input": "x"})
    assert none.status_code == 400 and "has no embeddings API" in none.json()["error"]["message"]


@pytest.mark.parametrize(
    "fields,param",
    [
        ({"encoding_format": "int8"}, "encoding_format"),
        ({"dimensions": 0}, "dimensions"),
        ({"dimensions": "8"}, "dimensions"),
        ({"input": [1, "a"]}, "input"),
        ({"input": [[]]}, "input"),
        ({"input": ""}, "input"),
    ],
)
def test_malformed_fields_are_refused_before_any_upstream_call(world, gateway_proc, mock_llm, fields, param):
    response = _post(world, gateway_proc, {"model": "openai:text-embedding-3-small", "input": "x", **fields})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert mock_llm.requests == []
