"""The tail can never climb out of the upstream's base path, however it is spelled on the wire."""

from __future__ import annotations

import json

import pytest

from gateways.http.paths import check_tail, upstream_url
from promptgate.errors import PromptGateError
from tests.gateways.http.conftest import raw_request

TRAVERSALS = [
    "/../secret",
    "/a/../../secret",
    "/..",
    "/.",
    "/a/./b",
    "/%2e%2e/secret",
    "/%2E%2e/secret",
    "/%2e./secret",
    "/.%2E/secret",
    "/a%2f..%2fsecret",
    "/a%2F..%2Fsecret",
    "/..%2fsecret",
    "/..%5csecret",
    "/a%5c..%5csecret",
    "/%252e%252e/secret",  # double-encoded: an upstream that decodes twice must not see `..`
    "/a%252f..%252fsecret",
    "/..\\secret",
    "/a\\..\\secret",
    "/%00",
    "/a%00.txt",
]


@pytest.fixture
def svc(api, upstream_server):
    api.endpoint("svc", upstream_server.url("/echo/base"))
    return api


def test_traversal_variants_are_400_invalid_path(svc, gateway_process, upstream_server):
    before = len(upstream_server.requests)
    for tail in TRAVERSALS:  # one test, one project: each variant is a single request
        status, body = raw_request(
            gateway_process.port,
            svc.path("svc", tail).encode(),
            headers=f"Authorization: Bearer {svc.token}\r\n".encode(),
        )
        assert status == 400, (tail, status, body)
        assert json.loads(body)["error"]["code"] == "invalid_path", (tail, body)
    assert len(upstream_server.requests) == before


def test_non_utf8_and_absurd_tails_get_a_clear_answer(svc, gateway_process, upstream_server):
    """Raw non-ASCII is refused; percent-encoded bytes and long tails reach the upstream untouched."""
    auth = f"Authorization: Bearer {svc.token}\r\n".encode()
    base = svc.path("svc").encode()
    for target in (b"/caf\xc3\xa9", b"/\xff\xfe", b"/a\x7fb"):
        status, body = raw_request(gateway_process.port, base + target, headers=auth)
        if body.startswith(b"{"):
            assert (status, json.loads(body)["error"]["code"]) == (400, "invalid_path"), target
        else:  # uvicorn itself may refuse a request line it cannot parse
            assert status == 400, (target, status, body)
    for target in (b"/%ff%fe/x", b"/" + b"a" * 8000, b"/" + b"a/" * 2000, b"/%C3%A9?q=%ff%00"):
        status, body = raw_request(gateway_process.port, base + target, headers=auth)
        assert status == 200, (target, status, body[:200])
        assert json.loads(body)["raw_path"] == "/echo/base" + target.decode(), target
    assert raw_request(gateway_process.port, b"/healthz")[0] == 200


def test_check_tail_unit_cases():
    assert check_tail(b"a/b%20c/d.txt") == "a/b%20c/d.txt"
    assert check_tail(b"") == ""
    assert check_tail(b"...") == "..."  # three dots is a name, not a dot segment
    assert check_tail(b"a..b/.hidden") == "a..b/.hidden"
    for bad in (b"..", b"a/..", b"%2e", b"x%2Fy", b"\xff", b"a\tb", b"a%5Cb", b"%25%32%65%25%32%65"):
        with pytest.raises(PromptGateError) as info:
            check_tail(bad)
        assert info.value.code == "invalid_path" and info.value.status == 400


def test_upstream_url_joining_unit_cases():
    join = upstream_url
    assert join("http://u/base", None, b"", strip_prefix="", preserve_query=True) == "http://u/base"
    assert join("http://u", None, b"", strip_prefix="", preserve_query=True) == "http://u/"
    assert join("http://u/base/", "x", b"a=1", strip_prefix="", preserve_query=True) == "http://u/base/x?a=1"
    assert join("http://u/b?k=1", "x", b"a=1", strip_prefix="", preserve_query=False) == "http://u/b/x?k=1"
    assert join("http://u/b", "v1", b"", strip_prefix="/v1/", preserve_query=True) == "http://u/b/"
