"""Rate limits on proxied endpoints: 429 with its headers, per-token buckets, one limit across processes."""

from __future__ import annotations

import pytest
from django.conf import settings


def test_per_minute_limit_is_429_with_headers(api, live, upstream_server):
    api.endpoint("lim", upstream_server.url("/echo"), rate_limit_per_minute=3)
    statuses = []
    for _ in range(3):
        r = live.get(api.path("lim"), headers=api.auth)
        statuses.append(r.status_code)
        assert "ratelimit-policy" in r.headers and "ratelimit" in r.headers
    before = len(upstream_server.requests)
    refused = live.get(api.path("lim"), headers=api.auth)
    assert statuses == [200, 200, 200]
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["retry-after"]) >= 1
    assert "w=60" in refused.headers["ratelimit-policy"] and "q=3" in refused.headers["ratelimit-policy"]
    assert "r=0" in refused.headers["ratelimit"]
    assert len(upstream_server.requests) == before  # a refused call never reaches the upstream


def test_per_hour_limit(api, live, upstream_server):
    api.endpoint("hour", upstream_server.url("/echo"), rate_limit_per_hour=2)
    assert [live.get(api.path("hour"), headers=api.auth).status_code for _ in range(3)] == [200, 200, 429]


def test_per_token_limits_are_separate_buckets(api, live, upstream_server):
    api.endpoint("tok", upstream_server.url("/echo"), rate_limit_per_minute=2, rate_limit_per_token=True)
    _, second = api.make_token(api.project, scopes=["proxy"], name="second")
    first_auth, second_auth = api.auth, {"Authorization": f"Bearer {second}"}
    assert [live.get(api.path("tok"), headers=first_auth).status_code for _ in range(3)] == [200, 200, 429]
    assert [live.get(api.path("tok"), headers=second_auth).status_code for _ in range(3)] == [200, 200, 429]


def test_endpoint_limit_is_shared_by_all_tokens(api, live, upstream_server):
    api.endpoint("shared", upstream_server.url("/echo"), rate_limit_per_minute=2)
    _, second = api.make_token(api.project, scopes=["proxy"], name="second")
    assert live.get(api.path("shared"), headers=api.auth).status_code == 200
    assert live.get(api.path("shared"), headers={"Authorization": f"Bearer {second}"}).status_code == 200
    assert live.get(api.path("shared"), headers=api.auth).status_code == 429


@pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL (CI runs it on PostgreSQL + Redis)")
def test_two_gateway_processes_enforce_one_limit_together(api, gateway_processes, upstream_server):
    import httpx

    api.endpoint("pair", upstream_server.url("/echo"), rate_limit_per_minute=6)
    with httpx.Client(timeout=10) as client:
        statuses = [
            client.get(process.url(api.path("pair")), headers=api.auth).status_code
            for _ in range(5)
            for process in gateway_processes
        ]
    # Alternating between the processes: 6 allowed in all, not 6 each.
    assert statuses.count(200) == 6 and statuses.count(429) == 4, statuses
    assert statuses[:6] == [200] * 6
