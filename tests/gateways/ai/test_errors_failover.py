"""Each error class through the official SDK, and failover along a chain, against a real gateway process."""

from __future__ import annotations

import time

import openai
import pytest

from audit import context
from tests.helpers import log_rows

pytestmark = pytest.mark.django_db(transaction=True)
HI = [{"role": "user", "content": "hi"}]


def error_body(exc: openai.APIStatusError) -> dict:
    return exc.body if isinstance(exc.body, dict) and "code" in exc.body else exc.response.json()["error"]


def test_error_classes(world, gateway_proc, make_token):
    from credentials.models import ProviderSetting

    client = world.sdk(gateway_proc)
    with pytest.raises(openai.AuthenticationError):
        world.sdk(gateway_proc, token="pg_test_" + "x" * 38).chat.completions.create(
            model="openai:gpt-4o", messages=HI
        )
    _, proxy_only = make_token(world.project, scopes=["proxy"])
    with pytest.raises(openai.PermissionDeniedError):
        world.sdk(gateway_proc, token=proxy_only).chat.completions.create(model="openai:gpt-4o", messages=HI)
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="no-such-model", messages=HI)
    error = caught.value.response.json()["error"]
    assert error == {
        "message": error["message"],
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }
    with pytest.raises(openai.PermissionDeniedError) as caught:
        client.chat.completions.create(model="anthropic:claude-3-5-haiku", messages=HI)
    assert caught.value.response.json()["error"]["code"] == "provider_not_assigned"
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="openai:gpt-4o", messages=[])
    assert caught.value.response.json()["error"]["param"] == "messages"
    with pytest.raises(openai.BadRequestError) as caught:  # the provider's own 400, passed on
        client.chat.completions.create(model="openai:gpt-4o+fail-400", messages=HI)
    assert "mock failure 400" in caught.value.message
    with pytest.raises(openai.InternalServerError) as caught:  # provider 500 with nowhere to fail over
        client.chat.completions.create(model="openai:gpt-4o+fail-500", messages=HI)
    assert caught.value.status_code == 502
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="openai:gpt-4o+fail-429", messages=HI)
    with pytest.raises(openai.InternalServerError) as caught:  # our credential refused: our problem
        client.chat.completions.create(model="openai:gpt-4o+fail-401", messages=HI)
    assert caught.value.response.json()["error"]["code"] == "provider_auth_failed"
    assert world.credential.api_key not in caught.value.response.text

    with context.bind(actor=context.SYSTEM):
        ProviderSetting.objects.create(provider="openai", enabled=False)
    deadline = time.monotonic() + 3
    while True:
        try:
            client.chat.completions.create(model="openai:gpt-4o", messages=HI)
        except openai.PermissionDeniedError as exc:
            assert exc.response.json()["error"]["code"] == "provider_disabled"
            break
        assert time.monotonic() < deadline, "provider_disabled never applied"
        time.sleep(0.1)


@pytest.mark.parametrize("failure", ["fail-500", "fail-429", "slow-first-byte-3000"])
@pytest.mark.parametrize("stream", [False, True])
def test_failover_to_the_next_provider(world, gateway_proc, mock_llm, failure, stream):
    world.assign("mistral", mock_llm.base_url("openai"), timeout="1")
    world.credential.options = {"timeout": "1"}  # a 3 s first byte outlasts the primary's per-attempt timeout
    with context.bind(actor=context.SYSTEM):
        world.credential.save()
    world.alias("chain", f"openai:gpt-4o+{failure},mistral:good-model")
    client = world.sdk(gateway_proc)
    raw = client.chat.completions.with_raw_response.create(model="chain", messages=HI, stream=stream)
    assert raw.headers["x-promptgate-provider"] == "mistral"
    if stream:
        text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    else:
        text = raw.parse().choices[0].message.content
    assert text.strip() == "Hello from the mock. You said: hi"
    row = [r for r in log_rows(world.project) if r.status == 200][-1]
    if failure.startswith("slow"):  # the primary was abandoned at its 1 s timeout, not answered at 3 s
        assert row.attempts[0]["error"] == "upstream_timeout", row.attempts
    assert [(a["provider"], a["status"]) for a in row.attempts] == [
        ("openai", {"fail-500": 500, "fail-429": 429, "slow-first-byte-3000": 0}[failure]),
        ("mistral", 200),
    ]
    assert row.provider == "mistral" and row.model == "good-model"
    if not stream:
        assert (row.tokens_in, row.tokens_out) == (10, 20)
    else:  # mistral's adapter does not ask for stream usage and the mock sends none: estimated
        assert row.tokens_in > 0 and row.tokens_out > 0


def test_no_failover_on_other_4xx(world, gateway_proc, mock_llm):
    world.assign("mistral", mock_llm.base_url("openai"))
    world.alias("chain", "openai:gpt-4o+fail-400,mistral:good-model")
    with pytest.raises(openai.BadRequestError):
        world.sdk(gateway_proc).chat.completions.create(model="chain", messages=HI)
    assert [r.body["model"] for r in mock_llm.requests] == ["gpt-4o+fail-400"]
    row = log_rows(world.project)[-1]
    assert [a["provider"] for a in row.attempts] == ["openai"] and row.error_code == "upstream_rejected"


def test_whole_chain_failing_reports_the_last_error(world, gateway_proc, mock_llm):
    world.assign("mistral", mock_llm.base_url("openai"))
    world.alias("chain", "openai:gpt-4o+fail-500,mistral:good-model+fail-429")
    with pytest.raises(openai.RateLimitError):
        world.sdk(gateway_proc).chat.completions.create(model="chain", messages=HI)
    row = log_rows(world.project)[-1]
    assert [(a["provider"], a["status"]) for a in row.attempts] == [("openai", 500), ("mistral", 429)]


def test_stream_cut_after_first_byte_is_not_retried(world, gateway_proc, mock_llm):
    world.assign("mistral", mock_llm.base_url("openai"))
    world.alias("chain", "openai:gpt-4o+cut-mid-stream,mistral:good-model")
    stream = world.sdk(gateway_proc).chat.completions.create(model="chain", messages=HI, stream=True)
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass
    assert [r.body["model"] for r in mock_llm.requests] == ["gpt-4o+cut-mid-stream"]
    row = log_rows(world.project)[-1]
    assert row.error_code in {"upstream_error", "upstream_timeout"} and row.provider == "openai"


def test_cost_in_request_log(world, gateway_proc):
    from gateways.ai.models import PriceOverride

    with context.bind(actor=context.SYSTEM):
        PriceOverride.objects.create(
            provider="openai", model="priced", input_per_million=2, output_per_million=4
        )
    client = world.sdk(gateway_proc)
    deadline = time.monotonic() + 3
    while True:  # until the gateway picked up the override
        client.chat.completions.create(model="openai:priced", messages=HI)
        row = log_rows(world.project, 1)[-1]
        if (row.cost and row.cost > 0) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    # 10 prompt tokens at $2/M + 20 completion tokens at $4/M
    assert float(row.cost) == pytest.approx(10 * 2e-6 + 20 * 4e-6)
    assert (row.endpoint, row.gateway, row.token_prefix) == ("chat.completions", "ai", world.token_row.prefix)
