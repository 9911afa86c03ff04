"""The one module of the OAuth code that speaks HTTP: sync for the control plane, async for the data plane."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from credentials.oauth.protocol import HttpCall, OAuthError
from gateways.common import ssrf
from gateways.common.transport import http_client

TIMEOUT = httpx.Timeout(15.0, connect=5.0)
ASYNC_TIMEOUT = http_client.Timeout(15.0, connect=5.0)
MAX_BODY = 256 * 1024  # token responses are small; never buffer an unbounded body


@dataclass(frozen=True)
class RawResponse:
    status: int
    content_type: str
    body: bytes


def _transport_error(exc: BaseException) -> OAuthError:
    if isinstance(exc, httpx.HTTPError):  # the control plane's own client: its errors, our wording
        code, message = _httpx_error(exc)
    else:
        _status, code, message = http_client.classify_upstream_error(exc)
    # classify_upstream_error's messages name no URL or credential.
    return OAuthError("transport", code, f"OAuth provider: {message}")


def _httpx_error(exc: httpx.HTTPError) -> tuple[str, str]:
    """(code, URL-free message) of a failed control-plane call, worded like classify_upstream_error."""
    if isinstance(exc, httpx.ConnectTimeout):
        return "upstream_timeout", "connection to upstream timed out"
    if isinstance(exc, httpx.TimeoutException):
        return "upstream_timeout", "upstream did not respond in time"
    if isinstance(exc, httpx.ConnectError):
        return "upstream_unreachable", "could not connect to upstream"
    if isinstance(exc, httpx.ReadError | httpx.WriteError):
        return "upstream_error", "upstream closed the connection"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "upstream_error", "upstream sent an invalid response"
    return "upstream_error", "upstream request failed"


def send_sync(call: HttpCall) -> RawResponse:
    """Control plane (callback, admin, API): a short-lived client after the save-time SSRF check."""
    try:
        ssrf.validate_url(call.url)
        with httpx.Client(follow_redirects=False, trust_env=False, timeout=TIMEOUT) as client:
            with client.stream(call.method, call.url, headers=call.headers, content=call.body) as response:
                body = b""
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_BODY:
                        raise OAuthError("provider", "response_too_large", "OAuth provider answer too large")
                return RawResponse(response.status_code, response.headers.get("content-type", ""), body)
    except OAuthError:
        raise
    except (httpx.HTTPError, ssrf.SsrfBlocked, OSError) as exc:
        raise _transport_error(exc) from exc


async def send_async(call: HttpCall) -> RawResponse:
    """Data plane: the shared SSRF-pinned client of this event loop."""
    try:
        response = await http_client.send(
            call.method, call.url, headers=call.headers, content=call.body or None, timeout=ASYNC_TIMEOUT
        )
        try:
            body = await response.read(MAX_BODY)
        except http_client.BodyTooLarge:
            raise OAuthError("provider", "response_too_large", "OAuth provider answer too large") from None
        finally:
            await response.aclose()
        return RawResponse(response.status, response.headers.get("content-type", ""), body)
    except OAuthError:
        raise
    except (http_client.UpstreamError, ssrf.SsrfBlocked, OSError) as exc:
        raise _transport_error(exc) from exc
