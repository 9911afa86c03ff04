"""Safe upstream URLs: the client's tail may never climb out of the endpoint's base path."""

from __future__ import annotations

from urllib.parse import unquote_to_bytes, urlsplit, urlunsplit

from promptgate.errors import PromptGateError


def _invalid(reason: str) -> PromptGateError:
    return PromptGateError(f"Invalid path: {reason}", code="invalid_path", status=400)


def check_tail(raw_tail: bytes) -> str:
    """Validate the raw (still percent-encoded) tail and return it as ASCII text, unchanged.

    Refused: dot segments (`..`, `.`, and their encodings), encoded slashes and backslashes, control
    characters, and raw non-ASCII bytes. Everything else is forwarded exactly as the client sent it.
    """
    try:
        tail = raw_tail.decode("ascii")
    except UnicodeDecodeError:
        raise _invalid("non-ASCII bytes must be percent-encoded") from None
    if "\\" in tail or any(ord(c) < 0x20 or ord(c) == 0x7F for c in tail):
        raise _invalid("backslashes and control characters are not allowed")
    for segment in tail.split("/"):
        once = unquote_to_bytes(segment)
        # Decoded twice too: an upstream (or a framework in front of it) that decodes again must
        # not find a dot segment or a slash either.
        for decoded in (once, unquote_to_bytes(once.decode("latin-1"))):
            if decoded in (b".", b".."):
                raise _invalid("dot segments are not allowed")
            if b"/" in decoded or b"\\" in decoded or b"\x00" in decoded:
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
