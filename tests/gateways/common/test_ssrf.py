"""SSRF guard: numeric host forms, address classes, allowlist, every-record resolution, save-time URLs."""

from __future__ import annotations

import socket

import pytest

from gateways.common import ssrf
from gateways.common.ssrf import SsrfBlocked, classify, normalise_host, resolve_checked, validate_url
from promptgate.errors import PromptGateError


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0X7F.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("10.1", "10.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("0xa9.254.0251.0376", "169.254.169.254"),
        ("0", "0.0.0.0"),
        ("127.0.0.1.", "127.0.0.1"),
        ("[::1]", "::1"),
        ("[0:0:0:0:0:0:0:1]", "::1"),
        ("[::ffff:127.0.0.1]", "::ffff:7f00:1"),
        ("Example.COM.", "example.com"),
        ("bücher.de", "xn--bcher-kva.de"),
        ("\uff11\uff12\uff17\uff0e\uff10\uff0e\uff10\uff0e\uff11", "127.0.0.1"),  # full-width digits
    ],
)
def test_normalise_host(raw, expected):
    assert normalise_host(raw) == expected


@pytest.mark.parametrize("raw", ["", "256.1.1.1", "1.2.3.4.5", "0x1.0x100000000", "foo.123", "a b", "[::zz]"])
def test_normalise_host_rejects_invalid(raw):
    with pytest.raises(SsrfBlocked) as info:
        normalise_host(raw)
    assert info.value.address_class == "invalid_host"


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.3", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "shared"),
        ("100.127.255.254", "shared"),
        ("169.254.1.1", "link-local"),
        ("169.254.169.254", "metadata"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("255.255.255.255", "broadcast"),
        ("240.0.0.1", "reserved"),
        ("192.0.2.1", "reserved"),
        ("198.18.0.1", "reserved"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fc00::1", "unique-local"),
        ("fd12:3456::1", "unique-local"),
        ("fd00:ec2::254", "metadata"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "metadata"),
        ("64:ff9b::7f00:1", "loopback"),  # NAT64 of 127.0.0.1
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("::127.0.0.1", "reserved"),  # deprecated IPv4-compatible
        ("2001:db8::1", "reserved"),
        ("8.8.8.8", None),
        ("1.1.1.1", None),
        ("100.63.255.255", None),
        ("100.128.0.0", None),
        ("172.32.0.1", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:8.8.8.8", None),
    ],
)
def test_classify(ip, expected):
    assert classify(ip) == expected


def test_ssrf_blocked_is_a_promptgate_error_with_both_statuses():
    with pytest.raises(SsrfBlocked) as info:
        ssrf.check_address("127.0.0.1")
    exc = info.value
    assert isinstance(exc, PromptGateError)
    assert (exc.code, exc.status, exc.request_status) == ("ssrf_blocked", 400, 502)
    assert exc.address_class == "loopback"
    assert exc.message == "upstream resolves to a loopback address"  # never the address (issue 17)
    assert exc.address == "127.0.0.1"
    at_request = exc.for_request()
    assert at_request.status == 502 and at_request.code == "ssrf_blocked"
    assert "127.0.0.1" not in at_request.message and "loopback" in at_request.message


def test_metadata_names_blocked_by_name():
    for name in ("metadata.google.internal", "METADATA.google.internal.", "metadata", "instance-data"):
        with pytest.raises(SsrfBlocked) as info:
            ssrf.check_host(name)
        assert info.value.address_class == "metadata"


def test_allowlist_cidrs_and_names_read_at_call_time(settings):
    settings.PROMPTGATE_SSRF_ALLOW = []
    with pytest.raises(SsrfBlocked):
        ssrf.check_address("10.1.2.3")
    settings.PROMPTGATE_SSRF_ALLOW = ["10.1.0.0/16", "internal.example", "*.corp.example"]
    ssrf.check_address("10.1.2.3")
    ssrf.check_address("::ffff:10.1.2.3")  # the mapped form of an allowlisted address
    with pytest.raises(SsrfBlocked):
        ssrf.check_address("10.2.0.1")
    assert ssrf.host_allowed("internal.example")
    assert ssrf.host_allowed("api.corp.example")
    assert not ssrf.host_allowed("corp.example.evil")


@pytest.fixture
def fake_dns(monkeypatch):
    """Simulated DNS answers (no public DNS exists here); records every lookup."""
    answers: dict[str, list[str]] = {}
    lookups: list[str] = []

    async def getaddrinfo(host: str, port: int) -> list[str]:
        lookups.append(host)
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return answers[host]

    def getaddrinfo_sync(host: str, port: int) -> list[str]:
        lookups.append(host)
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return answers[host]

    monkeypatch.setattr(ssrf, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(ssrf, "getaddrinfo_sync", getaddrinfo_sync)
    answers["lookups"] = lookups  # type: ignore[assignment]
    return answers


async def test_resolve_checked_checks_every_record(fake_dns, settings):
    settings.PROMPTGATE_SSRF_ALLOW = []
    fake_dns["public.example"] = ["93.184.216.34", "2606:2800:220:1::1"]
    fake_dns["mixed.example"] = ["93.184.216.34", "10.0.0.5"]
    fake_dns["cgnat.example"] = ["100.64.3.3"]
    fake_dns["mapped.example"] = ["::ffff:127.0.0.1"]
    assert await resolve_checked("public.example", 443) == ["93.184.216.34", "2606:2800:220:1::1"]
    for host, klass in (
        ("mixed.example", "private"),
        ("cgnat.example", "shared"),
        ("mapped.example", "loopback"),
    ):
        with pytest.raises(SsrfBlocked) as info:
            await resolve_checked(host, 443)
        assert info.value.address_class == klass


async def test_resolve_checked_literals_skip_dns(fake_dns, settings):
    settings.PROMPTGATE_SSRF_ALLOW = []
    for host in ("127.0.0.1", "2130706433", "0x7f.1", "[::1]", "[::ffff:7f00:1]"):
        with pytest.raises(SsrfBlocked):
            await resolve_checked(host, 80)
    assert await resolve_checked("8.8.8.8", 53) == ["8.8.8.8"]
    assert fake_dns["lookups"] == []


async def test_allowlisted_name_admits_its_private_addresses(fake_dns, settings):
    fake_dns["db.internal.example"] = ["10.9.9.9"]
    settings.PROMPTGATE_SSRF_ALLOW = []
    with pytest.raises(SsrfBlocked):
        await resolve_checked("db.internal.example", 80)
    settings.PROMPTGATE_SSRF_ALLOW = ["db.internal.example"]
    assert await resolve_checked("db.internal.example", 80) == ["10.9.9.9"]


async def test_resolve_checked_real_localhost(settings):
    settings.PROMPTGATE_SSRF_ALLOW = []
    with pytest.raises(SsrfBlocked) as info:
        await resolve_checked("localhost", 80)
    assert info.value.address_class == "loopback"
    settings.PROMPTGATE_SSRF_ALLOW = ["127.0.0.0/8", "::1"]
    addresses = await resolve_checked("localhost", 80)
    assert "127.0.0.1" in addresses or "::1" in addresses


@pytest.mark.parametrize(
    ("url", "klass"),
    [
        ("ftp://example.com/", "invalid_scheme"),
        ("file:///etc/passwd", "invalid_scheme"),
        ("gopher://127.0.0.1/", "invalid_scheme"),
        ("http://user:pass@example.com/", "userinfo"),
        ("http://@example.com/", "userinfo"),
        ("http:///path", "invalid_host"),
        ("http://example.com:99999/", "invalid_url"),
        ("http://127.0.0.1/", "loopback"),
        ("http://2130706433/", "loopback"),
        ("http://0177.0.0.1/", "loopback"),
        ("http://0x7f.0.0.1/", "loopback"),
        ("http://0x7f000001/", "loopback"),
        ("http://127.1/", "loopback"),
        ("http://10.1/", "private"),
        ("http://[::1]:8080/", "loopback"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://[fe80::1]/", "link-local"),
        ("http://[fd00::1]/", "unique-local"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://metadata.google.internal/computeMetadata/v1/", "metadata"),
        ("http://100.64.0.1/", "shared"),
        ("http://0.0.0.0:8000/", "unspecified"),
        ("https://localhost/", "loopback"),
        ("http://rebind.example/", "private"),
    ],
)
def test_validate_url_refuses(url, klass, fake_dns, settings):
    settings.PROMPTGATE_SSRF_ALLOW = []
    fake_dns["localhost"] = ["127.0.0.1"]
    fake_dns["rebind.example"] = ["93.184.216.34", "192.168.0.10"]
    with pytest.raises(SsrfBlocked) as info:
        validate_url(url)
    assert info.value.address_class == klass
    assert info.value.status == 400
    if klass in ssrf.CLASS_LABELS:
        assert f"{ssrf.CLASS_LABELS[klass]} address" in info.value.message or "metadata" in info.value.message


def test_validate_url_accepts(fake_dns, settings):
    settings.PROMPTGATE_SSRF_ALLOW = ["127.0.0.0/8"]
    fake_dns["api.example.com"] = ["93.184.216.34"]
    validate_url("https://api.example.com/v1?x=1")
    validate_url("http://127.0.0.1:8080/")
    validate_url("HTTPS://API.EXAMPLE.COM./")
    # Unresolvable now: accepted at save (checked again per request) unless resolution is required.
    validate_url("https://not-yet.example/")
    with pytest.raises(SsrfBlocked) as info:
        validate_url("https://not-yet.example/", require_resolution=True)
    assert info.value.address_class == "unresolvable"
