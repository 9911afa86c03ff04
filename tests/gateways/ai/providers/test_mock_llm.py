"""The mock LLM server's own controls: behaviours by header or model name, recording, credential checks."""

import httpx
import pytest

from tests.mock_llm import KEYS

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
AUTH = {"Authorization": f"Bearer {KEYS['openai']}"}


def post(mock, body, headers=None, timeout=10.0):
    return httpx.post(
        mock.url("/v1/chat/completions"),
        json=body,
        headers={**AUTH, **(headers or {})},
        timeout=timeout,
        trust_env=False,
    )


def test_records_every_request(mock):
    post(mock, CHAT, {"X-Trace": "t-1"})
    recorded = mock.last()
    assert (recorded.method, recorded.path, recorded.body) == ("POST", "/v1/chat/completions", CHAT)
    assert recorded.headers["x-trace"] == "t-1" and len(mock.requests) == 1


def test_behaviours_by_header_and_by_model_name(mock):
    response = post(mock, CHAT, {"x-mock-behaviour": "fail-429"})
    assert response.status_code == 429 and response.headers["retry-after"] == "1"
    assert post(mock, {**CHAT, "model": "gpt+fail-503"}).status_code == 503
    assert post(mock, {**CHAT, "model": "gpt+slow-first-byte-300"}).status_code == 200
    with pytest.raises(httpx.ReadTimeout):  # no first byte within 0.3 s of a 3 s wait
        post(mock, {**CHAT, "model": "gpt+slow-first-byte-3000"}, timeout=0.3)


def test_hang_meets_a_client_timeout(mock):
    with pytest.raises(httpx.ReadTimeout):
        post(mock, {**CHAT, "model": "gpt+hang"}, timeout=0.3)


def test_slow_stream_spaces_the_chunks(mock):
    response = post(mock, {**CHAT, "model": "gpt+slow-stream-20", "stream": True})
    assert response.status_code == 200 and response.text.endswith("data: [DONE]\n\n")
    with pytest.raises(httpx.ReadTimeout):  # chunks 3 s apart: the next one is not there within 0.3 s
        post(mock, {**CHAT, "model": "gpt+slow-stream-3000", "stream": True}, timeout=0.3)


def test_wrong_or_missing_credentials_answer_401(mock):
    assert post(mock, CHAT, {"Authorization": "Bearer sk-nope"}).status_code == 401
    response = httpx.post(
        mock.url("/v1/messages"), json={"model": "c", "max_tokens": 5, "messages": []}, trust_env=False
    )
    assert response.status_code == 401 and response.json()["type"] == "error"
    response = httpx.post(mock.url("/v1beta/models/g:generateContent"), json={}, trust_env=False)
    assert response.status_code == 401 and response.json()["error"]["status"] == "UNAUTHENTICATED"
