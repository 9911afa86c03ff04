"""The mock LLM server's own controls: behaviours by header or model name, recording, credential checks."""

import time

import httpx

from tests.mock_llm import KEYS

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
AUTH = {"Authorization": f"Bearer {KEYS['openai']}"}


def post(mock, body, headers=None, timeout=10.0):
    return httpx.post(
        f"{mock.url}/v1/chat/completions",
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
    started = time.monotonic()
    assert post(mock, {**CHAT, "model": "gpt+slow-first-byte-300"}).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_hang_meets_a_client_timeout(mock):
    started = time.monotonic()
    try:
        post(mock, {**CHAT, "model": "gpt+hang"}, timeout=0.3)
    except httpx.ReadTimeout:
        pass
    else:
        raise AssertionError("expected a timeout")
    assert time.monotonic() - started < 5


def test_slow_stream_spaces_the_chunks(mock):
    started = time.monotonic()
    response = post(mock, {**CHAT, "model": "gpt+slow-stream-20", "stream": True})
    assert response.status_code == 200 and response.text.endswith("data: [DONE]\n\n")
    assert time.monotonic() - started >= 0.1


def test_wrong_or_missing_credentials_answer_401(mock):
    assert post(mock, CHAT, {"Authorization": "Bearer sk-nope"}).status_code == 401
    response = httpx.post(
        f"{mock.url}/v1/messages", json={"model": "c", "max_tokens": 5, "messages": []}, trust_env=False
    )
    assert response.status_code == 401 and response.json()["type"] == "error"
    response = httpx.post(f"{mock.url}/v1beta/models/g:generateContent", json={}, trust_env=False)
    assert response.status_code == 401 and response.json()["error"]["status"] == "UNAUTHENTICATED"
