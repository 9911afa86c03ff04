"""Safe upstream URLs: the client's tail may never climb out of the endpoint's base path."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from urllib.parse import unquote_to_bytes, urlsplit, urlunsplit

from promptgate.errors import ErrorCode, PromptGateError


def _invalid(reason: str) -> PromptGateError:
    return PromptGateError(f"Invalid path: {reason}", code=ErrorCode.INVALID_PATH, status=400)


# Overlong UTF-8 forms of ASCII (`%c0%ae` is a dot to a lenient decoder): two, three and four bytes.
_OVERLONG = re.compile(rb"[\xc0\xc1][\x80-\xbf]|\xe0[\x80-\x9f][\x80-\xbf]|\xf0[\x80-\x8f][\x80-\xbf]{2}")
# Slash look-alikes NFKC leaves alone but Windows "best fit" code pages map to `/` and a backslash.
_BEST_FIT = str.maketrans({"\u2215": "/", "\u2044": "/", "\u29f8": "/", "\u2216": "\\", "\u29f9": "\\"})
# IIS's `%uXXXX` escapes.
_PERCENT_U = re.compile(r"%[uU]([0-9a-fA-F]{4})")


def _overlong_to_ascii(match: re.Match[bytes]) -> bytes:
    raw = match.group()
    code = raw[0] & (0x1F if len(raw) == 2 else 0x0F if len(raw) == 3 else 0x07)
    for byte in raw[1:]:
        code = (code << 6) | (byte & 0x3F)
    return bytes([code])


def _as_servers_read_it(decoded: bytes) -> str:
    """A decoded segment as the most lenient common stack would see it.

    Overlong UTF-8 folded to ASCII, then NFKC (a fullwidth full stop U+FF0E or a one-dot leader U+2024
    is a dot to servers that normalise Unicode, e.g. IIS; a division slash U+2215 is a slash to Windows'
    best-fit mapping), then Tomcat/Spring path parameters (`..;x=1`) dropped and the spaces and tabs
    that IIS trims around a segment removed.
    """
    text = _OVERLONG.sub(_overlong_to_ascii, decoded).decode("utf-8", "replace")
    text = unicodedata.normalize("NFKC", text).translate(_BEST_FIT)
    return text.split(";", 1)[0].strip(" \t")


def _spellings(segment: str) -> Iterator[str]:
    """The segment decoded once, twice and with `%u` escapes, each as lenient servers read it."""
    once = unquote_to_bytes(segment)
    twice = unquote_to_bytes(once.decode("latin-1"))
    u_decoded = _PERCENT_U.sub(lambda m: chr(int(m.group(1), 16)), segment)
    for decoded in (once, twice, unquote_to_bytes(u_decoded)):
        yield decoded.decode("latin-1")  # byte-exact: NUL, slashes and backslashes as they are
        yield _as_servers_read_it(decoded)


def check_tail(raw_tail: bytes) -> str:
    """Validate the raw (still percent-encoded) tail and return it as ASCII text, unchanged.

    Refused: dot segments however a common upstream stack (Tomcat/Spring, IIS, nginx) would read
    them (`..`, `.`, percent-encoded once or twice, `%u002e`, overlong UTF-8 `%c0%ae`, fullwidth
    `%ef%bc%8e`, `..;param`, `.. `), encoded slashes and backslashes (in the same spellings), control
    characters, and raw non-ASCII bytes. Everything else is forwarded exactly as the client sent it.
    """
    try:
        tail = raw_tail.decode("ascii")
    except UnicodeDecodeError:
        raise _invalid("non-ASCII bytes must be percent-encoded") from None
    if "\\" in tail or any(ord(c) < 0x20 or ord(c) == 0x7F for c in tail):
        raise _invalid("backslashes and control characters are not allowed")
    for segment in tail.split("/"):
        if "%" not in segment and ";" not in segment and segment not in (".", ".."):
            continue  # the plain common case: nothing to decode or fold
        for seen in _spellings(segment):
            if seen in (".", ".."):
                raise _invalid("dot segments are not allowed")
            if "/" in seen or "\\" in seen or "\x00" in seen:
                raise _invalid("encoded slashes are not allowed")
    return tail


def upstream_url(
    base: str, tail: str | None, query: bytes, *, strip_prefix: str, preserve_query: bool
) -> str:
    """Join the endpoint's base URL and the checked tail; the base path always stays a prefix.

    `tail` None means the client named the endpoint without a trailing slash: the base URL as it is.
    """
    parts = urlsplit(base)
    if tail is None:
        path = parts.path or "/"
    else:
        path = _join(parts.path, tail, strip_prefix)
    merged_query = parts.query
    if preserve_query and query:
        client_query = query.decode("latin-1")
        merged_query = f"{merged_query}&{client_query}" if merged_query else client_query
    return urlunsplit((parts.scheme, parts.netloc, path, merged_query, ""))


def _join(base_path: str, tail: str, strip_prefix: str) -> str:
    if strip_prefix:
        prefix = strip_prefix.strip("/")
        if tail == prefix or tail.startswith(prefix + "/"):
            tail = tail[len(prefix) :].lstrip("/")
    return f"{base_path.rstrip('/')}/{tail}"
