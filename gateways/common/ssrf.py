"""SSRF guard: normalise hosts, classify addresses, resolve and check every record, honour the allowlist."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import urlsplit

import idna
from django.conf import settings

from promptgate.errors import ErrorCode, PromptGateError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Cloud metadata services answer on these names; blocked by name so no resolver can route around it.
METADATA_HOSTS = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "metadata.azure.com",
        "metadata.azure.internal",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.platformequinix.com",
        "metadata.tencentyun.com",
    }
)
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)

_V4_BLOCKS: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(net), name)
    for net, name in (
        ("0.0.0.0/8", "unspecified"),  # Linux connects 0.0.0.0 to the local host
        ("127.0.0.0/8", "loopback"),
        ("10.0.0.0/8", "private"),
        ("172.16.0.0/12", "private"),
        ("192.168.0.0/16", "private"),
        ("100.64.0.0/10", "shared"),  # carrier-grade NAT; ipaddress does not call it private
        ("169.254.0.0/16", "link-local"),
        ("224.0.0.0/4", "multicast"),
        ("255.255.255.255/32", "broadcast"),
        ("240.0.0.0/4", "reserved"),
    )
)
_V6_BLOCKS: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(net), name)
    for net, name in (
        ("::1/128", "loopback"),
        ("::/128", "unspecified"),
        ("::/96", "reserved"),  # deprecated IPv4-compatible form (::127.0.0.1)
        ("::ffff:0:0:0/96", "reserved"),  # SIIT IPv4-translated
        ("fc00::/7", "unique-local"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local"),
        ("ff00::/8", "multicast"),
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

CLASS_LABELS = {
    "unspecified": "an unspecified",
    "loopback": "a loopback",
    "private": "a private (RFC 1918)",
    "shared": "a shared (100.64.0.0/10)",
    "link-local": "a link-local",
    "metadata": "a cloud metadata",
    "multicast": "a multicast",
    "broadcast": "a broadcast",
    "reserved": "a reserved",
    "unique-local": "a unique-local (fc00::/7)",
    "site-local": "a site-local",
}


class SsrfBlocked(PromptGateError):
    """An upstream the guard refuses: 400 at save time, `request_status` (502) at request time.

    Its message names the address class ("a loopback address"), never the address a name resolved
    to: that would let anyone who may save a URL probe internal DNS. `address` keeps it for code.
    """

    status = 400
    code = ErrorCode.SSRF_BLOCKED
    request_status = 502

    def __init__(self, message: str, address_class: str, *, address: str | None = None) -> None:
        super().__init__(message)
        self.address_class = address_class
        self.address = address

    @property
    def public_message(self) -> str:
        """The message callers see: names the class, never the internal address a name resolves to."""
        if self.address_class in CLASS_LABELS:
            return _wording(self.address_class)
        return self.message

    def public_message_for(self, subject: str) -> str:
        """The public message naming what was refused ("webhook URL resolves to a loopback address")."""
        return self.public_message.replace("upstream", subject, 1)

    def saved_message(self, subject: str = "upstream") -> str:
        """The refusal as whoever saves the URL reads it: with how to allow a deliberate internal host."""
        hint = ALLOW_HINT if self.address_class in CLASS_LABELS else ""
        return self.public_message_for(subject) + hint

    def for_request(self) -> SsrfBlocked:
        """The same refusal as the data plane answers it (502, address withheld)."""
        blocked = SsrfBlocked(self.public_message, self.address_class)
        blocked.status = self.request_status
        return blocked


# Said to whoever saves a refused URL (an operator or an API client), never on the data plane: how an
# operator lets a deliberate internal upstream through.
ALLOW_HINT = (
    "; if this upstream is meant to be internal, the operator may allow its host or network with "
    "PROMPTGATE_SSRF_ALLOW"
)


def _wording(address_class: str) -> str:
    """The one wording of a refusal by address class (every API, form and data-plane answer uses it)."""
    label = CLASS_LABELS.get(address_class, f"a {address_class}")
    return f"upstream resolves to {label} address"


def _blocked(address_class: str, address: str) -> SsrfBlocked:
    return SsrfBlocked(_wording(address_class), address_class, address=address)


def _parse_ipv4_part(part: str) -> int | None:
    """One inet_aton component: decimal, 0x hex or 0-led octal (the forms libc and browsers accept)."""
    if not part:
        return None
    try:
        if part[:2] in ("0x", "0X"):
            return int(part[2:], 16) if len(part) > 2 else 0
        if len(part) > 1 and part[0] == "0":
            return int(part[1:], 8)
        return int(part, 10) if part.isdigit() else None
    except ValueError:
        return None


def _parse_numeric_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """127.1, 2130706433, 0x7f.0.0.1, 0177.0.0.1 and mixes; None when not numeric, ValueError out of range."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values = [_parse_ipv4_part(p) for p in parts]
    if any(v is None for v in values):
        return None
    nums: list[int] = [v for v in values if v is not None]
    # inet_aton: the last component fills every remaining byte.
    last_max = 256 ** (5 - len(nums)) - 1
    if any(n > 255 for n in nums[:-1]) or nums[-1] > last_max:
        raise ValueError("numeric host out of range")
    value = 0
    for n in nums[:-1]:
        value = value * 256 + n
    value = value * 256 ** (5 - len(nums)) + nums[-1]
    return ipaddress.IPv4Address(value)


def _looks_numeric(label: str) -> bool:
    return _parse_ipv4_part(label) is not None or label[:2] in ("0x", "0X")


@lru_cache(maxsize=4096)
def normalise_host(host: str) -> str:
    """Canonical host: numeric IPv4 as a dotted quad, IPv6 compressed, lower-case IDNA, no trailing dot."""
    name = host.strip()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    name = name.rstrip(".").lower()
    if not name:
        raise SsrfBlocked("upstream host is missing", "invalid_host")
    if ":" in name:
        try:
            return ipaddress.IPv6Address(name).compressed
        except ValueError:
            raise SsrfBlocked("upstream host is not a valid IPv6 address", "invalid_host") from None
    if not name.isascii():
        # UTS 46 also folds full-width digits and dots, so full-width "127.1" is caught below.
        try:
            name = idna.encode(name, uts46=True).decode("ascii").rstrip(".")
        except idna.IDNAError:
            raise SsrfBlocked("upstream host is not a valid host name", "invalid_host") from None
    try:
        v4 = _parse_numeric_ipv4(name)
    except ValueError:
        raise SsrfBlocked("upstream host is an out-of-range numeric address", "invalid_host") from None
    if v4 is not None:
        return str(v4)
    if any(c in name for c in "%/@\\ ") or _looks_numeric(name.rsplit(".", 1)[-1]):
        # A name ending in a number is an address to browsers and libc alike (WHATWG URL).
        raise SsrfBlocked("upstream host is not a valid host name", "invalid_host")
    return name


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def classify(ip: str | IPAddress) -> str | None:
    """The blocked class of an address ("loopback", "private", ...) or None when it is public."""
    address = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
    if address in METADATA_ADDRESSES:
        return "metadata"
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_v4(address)
        if embedded is not None:
            return classify(embedded)
        for net, name in _V6_BLOCKS:
            if address in net:
                return name
    else:
        for net, name in _V4_BLOCKS:
            if address in net:
                return name
    # Documentation, benchmarking, IETF-protocol and other special-purpose ranges.
    return None if address.is_global else "reserved"


@lru_cache(maxsize=64)
def _parse_allowlist(
    entries: tuple[str, ...],
) -> tuple[tuple[IPNetwork, ...], frozenset[str], tuple[str, ...]]:
    nets: list[IPNetwork] = []
    names: set[str] = set()
    suffixes: list[str] = []
    for raw in entries:
        entry = raw.strip()
        if not entry:
            continue
        try:
            nets.append(ipaddress.ip_network(entry, strict=False))
            continue
        except ValueError:
            pass
        if entry.startswith("*."):
            suffixes.append("." + normalise_host(entry[2:]))
        else:
            names.add(normalise_host(entry))
    return tuple(nets), frozenset(names), tuple(suffixes)


def allowlist() -> tuple[str, ...]:
    """The allowlist as configured now: pooled connections are keyed by it, so a change checks anew."""
    return tuple(settings.PROMPTGATE_SSRF_ALLOW)


def _allowlist() -> tuple[tuple[IPNetwork, ...], frozenset[str], tuple[str, ...]]:
    # Read at call time so override_settings and live reconfiguration take effect.
    return _parse_allowlist(tuple(settings.PROMPTGATE_SSRF_ALLOW))


def host_allowed(name: str) -> bool:
    """True when a normalised host name is on the allowlist (exactly or by a `*.suffix` entry)."""
    _, names, suffixes = _allowlist()
    return name in names or any(name.endswith(s) for s in suffixes)


def address_allowed(ip: str | IPAddress) -> bool:
    address = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
    nets = _allowlist()[0]
    if any(address in net for net in nets):
        return True
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_v4(address)
        return embedded is not None and any(embedded in net for net in nets)
    return False


def check_address(ip: str) -> None:
    """Raise SsrfBlocked unless the address is public or allowlisted."""
    address_class = classify(ip)
    if address_class is not None and not address_allowed(ip):
        raise _blocked(address_class, ip)


def _literal(name: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def check_host(host: str) -> str | None:
    """Checks that need no DNS: returns the normalised literal address, or None for a name to resolve."""
    # Runs on every upstream request: passing verdicts are cached per allowlist (refusals are not).
    return _check_host(host, tuple(settings.PROMPTGATE_SSRF_ALLOW))


@lru_cache(maxsize=4096)
def _check_host(host: str, allow: tuple[str, ...]) -> str | None:
    name = normalise_host(host)
    literal = _literal(name)
    if literal is not None:
        check_address(str(literal))
        return str(literal)
    if host_allowed(name):
        return None
    if name in METADATA_HOSTS:
        raise SsrfBlocked("upstream host is a cloud metadata service", "metadata", address=name)
    return None


def _check_resolved(name: str, addresses: Iterable[str]) -> list[str]:
    checked: list[str] = []
    name_allowed = host_allowed(name)
    for address in addresses:
        if not name_allowed:
            check_address(address)
        if address not in checked:
            checked.append(address)
    if not checked:
        raise socket.gaierror(socket.EAI_NONAME, "no address records")
    return checked


async def getaddrinfo(host: str, port: int) -> list[str]:
    """Every A and AAAA address of a name (the one DNS hook; tests replace it to simulate answers)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def getaddrinfo_sync(host: str, port: int) -> list[str]:
    """The blocking twin of getaddrinfo, for save-time validation in sync code."""
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


async def resolve_checked(host: str, port: int) -> list[str]:
    """Resolve every A/AAAA record and check each one; any blocked address refuses the whole host."""
    literal = check_host(host)
    if literal is not None:
        return [literal]
    name = normalise_host(host)
    return _check_resolved(name, await getaddrinfo(name, port))


def resolve_checked_sync(host: str, port: int) -> list[str]:
    """The blocking twin of resolve_checked, for sync senders that pin the checked address (webhooks)."""
    literal = check_host(host)
    if literal is not None:
        return [literal]
    name = normalise_host(host)
    return _check_resolved(name, getaddrinfo_sync(name, port))


def validate_url(url: str, *, require_resolution: bool = False) -> None:
    """Save-time check of an upstream URL: http(s), a host, no userinfo, and no blocked address.

    A name that does not resolve right now is accepted unless `require_resolution`: DNS at save time
    may differ from DNS where the gateway runs, and every request is checked again anyway.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise SsrfBlocked("upstream URL is not a valid URL", "invalid_url") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise SsrfBlocked("upstream URL must use http or https", "invalid_scheme")
    if "@" in parts.netloc:
        raise SsrfBlocked("upstream URL must not contain credentials", "userinfo")
    if not parts.hostname:
        raise SsrfBlocked("upstream URL has no host", "invalid_host")
    host = parts.hostname
    literal = check_host(host)
    if literal is not None:
        return
    name = normalise_host(host)
    port = port or (443 if parts.scheme.lower() == "https" else 80)
    try:
        addresses = getaddrinfo_sync(name, port)
    except (OSError, UnicodeError):
        if require_resolution:
            raise SsrfBlocked(f"upstream host {name} does not resolve", "unresolvable") from None
        return
    _check_resolved(name, addresses)


def refusal(url: str) -> SsrfBlocked | None:
    """The guard's refusal of `url` when it names a blocked address class (not a mere syntax error)."""
    try:
        validate_url(url)
    except SsrfBlocked as exc:
        if exc.address_class in CLASS_LABELS:
            return exc
    return None


def refusal_error(
    url: str, field: str, fields: dict[str, list[str]] | None = None, *, subject: str = "upstream"
) -> PromptGateError | None:
    """400 `ssrf_blocked` naming `field` (beside the other `fields`) when `url` names a blocked class.

    None when the URL is fine or merely malformed: the caller reports that as its own validation error.
    """
    blocked = refusal(url)
    if blocked is None:
        return None
    message = blocked.saved_message(subject)
    return PromptGateError(message, code=ErrorCode.SSRF_BLOCKED, fields={**(fields or {}), field: [message]})


def check_saved_url(url: str, field: str) -> None:
    """Save-time check of one URL field of a serializer or form.

    A blocked address class raises `PromptGateError` (400 `ssrf_blocked`, the field named); a URL
    that is merely malformed (another scheme, userinfo) raises `SsrfBlocked` for the caller to report
    as its own validation error. Neither message names a resolved address or echoes the URL.
    """
    try:
        validate_url(url)
    except SsrfBlocked as exc:
        if exc.address_class in CLASS_LABELS:
            message = exc.saved_message()
            raise PromptGateError(message, code=ErrorCode.SSRF_BLOCKED, fields={field: [message]}) from None
        raise
