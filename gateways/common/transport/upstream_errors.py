"""The upstream client's failures: URL-free messages, one (status, code) each (re-exported by http_client)."""

from __future__ import annotations


class UpstreamError(Exception):
    """A failed upstream call. str() names no URL, host or credential: callers may log or show it."""

    status = 502
    code = "upstream_error"


class UpstreamTimeout(UpstreamError):
    status = 504
    code = "upstream_timeout"


class UpstreamUnreachable(UpstreamError):
    code = "upstream_unreachable"


class InvalidUpstreamURL(UpstreamError):
    """A URL the client cannot use (stored by an operator): the upstream's fault, so a 502."""


class InvalidRequestHeader(UpstreamError):
    """A header the client refuses to write (not a token name, or a control character in a value)."""


class BodyTooLarge(UpstreamError):
    """read(max_bytes=...) met a longer body."""


class StaleConnection(UpstreamError):
    """A pooled connection closed before any byte of the response: the keep-alive race, retried once."""
