"""Issue 17, point 3: the path corpus (tests/corpus/path_tails_*.txt) against check_tail and a live gateway."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateways.http.paths import check_tail
from promptgate.errors import PromptGateError
from tests.gateways.http.conftest import raw_request

CORPUS = Path(__file__).resolve().parents[2] / "corpus"


def corpus(name: str) -> list[str]:
    lines = (CORPUS / name).read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


REFUSED = corpus("path_tails_refused.txt")
ALLOWED = corpus("path_tails_allowed.txt")


def test_the_corpus_is_substantial():
    assert len(REFUSED) >= 60 and len(ALLOWED) >= 10
    assert len(set(REFUSED)) == len(REFUSED)


@pytest.mark.parametrize("tail", REFUSED)
def test_check_tail_refuses_every_refused_spelling(tail):
    with pytest.raises(PromptGateError) as info:
        check_tail(tail.lstrip("/").encode())
    assert (info.value.code, info.value.status) == ("invalid_path", 400)


@pytest.mark.parametrize("tail", ALLOWED)
def test_check_tail_keeps_every_look_alike(tail):
    assert check_tail(tail.lstrip("/").encode()) == tail.lstrip("/")


@pytest.fixture
def svc(api, upstream_server):
    api.endpoint("svc", upstream_server.url("/echo/base"))
    return api


def test_the_live_gateway_refuses_the_corpus_and_forwards_the_look_alikes(
    svc, gateway_process, upstream_server
):
    auth = f"Authorization: Bearer {svc.token}\r\n".encode()
    before = len(upstream_server.requests)
    for tail in REFUSED:
        status, body = raw_request(gateway_process.port, svc.path("svc", tail).encode(), headers=auth)
        assert status == 400, (tail, status, body[:200])
        assert json.loads(body)["error"]["code"] == "invalid_path", (tail, body[:200])
    assert len(upstream_server.requests) == before, "a refused tail reached the upstream"
    for tail in ALLOWED:
        status, body = raw_request(gateway_process.port, svc.path("svc", tail).encode(), headers=auth)
        assert status == 200, (tail, status, body[:200])
        assert json.loads(body)["raw_path"] == "/echo/base" + tail, tail
    print(f"path corpus: {len(REFUSED)} refused spellings, {len(ALLOWED)} look-alikes forwarded")
