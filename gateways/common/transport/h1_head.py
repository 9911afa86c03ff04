"""HTTP/1.1 request heads for h1: validated so no header can be split or smuggled, framed by us."""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, Iterable, Mapping

from gateways.common.transport.upstream_errors import InvalidRequestHeader

Headers = Mapping[str, str] | Iterable[tuple[str, str]]
Body = bytes | AsyncIterable[bytes] | None

USER_AGENT = "PromptGate"

# Caller headers the writer treats specially: framing is always ours (a caller's Content-Length or
# Transfer-Encoding could contradict the body we send), the rest are defaults we add when absent.
_DROP, _HOST, _AGENT, _ACCEPT, _CONNECTION = range(5)
_SPECIAL = {
    "content-length": _DROP,
    "transfer-encoding": _DROP,
    "host": _HOST,
    "user-agent": _AGENT,
    "accept": _ACCEPT,
    "connection": _CONNECTION,
}
_NO_BODY_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})  # no "Content-Length: 0" (as aiohttp)
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# Control characters but TAB, CR and LF (CR and LF are counted instead: one pair per line).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_tokens: set[str] = set()  # method and header names already checked: the usual few skip the regex


def _check_token(name: str) -> None:
    if _TOKEN.fullmatch(name) is None:
        raise InvalidRequestHeader("a request header name is not valid")
    if len(_tokens) < 4096:
        _tokens.add(name)


def encode_head(method: str, target: str, host: str, headers: Headers, body: Body) -> tuple[bytes, bool]:
    """The request line and headers as bytes, and whether the caller asked for `Connection: close`.

    Names must be tokens and no line may hold a control character but TAB, so no CR, LF or NUL can
    split a header or smuggle a request. Repeated headers go out repeated. Host, User-Agent and
    Accept: */* are added when absent (as aiohttp did); Content-Length or chunked framing always by us.
    """
    if method not in _tokens:
        _check_token(method)
    lines = [f"{method} {target} HTTP/1.1\r\n"]
    append = lines.append
    has_host = has_agent = has_accept = close = False
    for name, value in headers.items() if isinstance(headers, Mapping) else headers:
        kind = _SPECIAL.get(name.lower())
        if kind is not None:
            if kind == _DROP:
                continue
            if kind == _HOST:
                has_host = True
            elif kind == _AGENT:
                has_agent = True
            elif kind == _ACCEPT:
                has_accept = True
            else:
                close = close or "close" in value.lower()
        if name not in _tokens:
            _check_token(name)
        append(f"{name}: {value}\r\n")
    if not has_host:
        lines.insert(1, f"Host: {host}\r\n")
    if not has_agent:
        append(f"User-Agent: {USER_AGENT}\r\n")
    if not has_accept:
        append("Accept: */*\r\n")
    if body is None:
        if method not in _NO_BODY_METHODS:
            append("Content-Length: 0\r\n")
    elif isinstance(body, bytes):
        append(f"Content-Length: {len(body)}\r\n")
    else:
        append("Transfer-Encoding: chunked\r\n")
    append("\r\n")
    text = "".join(lines)
    count = len(lines)
    if text.count("\n") != count or text.count("\r") != count or _CONTROL.search(text) is not None:
        raise InvalidRequestHeader("a request header value is not valid")
    try:
        return text.encode("latin-1"), close  # byte-exact for values the proxy decoded as latin-1
    except UnicodeEncodeError:
        return text.encode("utf-8"), close
