"""The API gateway: `ANY /api/{uuid}/proxy/{slug}/{tail}` streamed to the endpoint's upstream and back."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import yarl
from django.conf import settings

from credentials.oauth import tokens as oauth_tokens
from gateways.common import process_state, ratelimit, ssrf
from gateways.common.http import ClientDisconnected, Receive, Response, StreamingResponse, payload_too_large
from gateways.common.router import GatewayRequest
from gateways.common.transport import http_client
from gateways.guardrails import http_bodies as guardrails
from gateways.http import headers as header_policy
from gateways.http.config import EndpointInfo, load_endpoint
from gateways.http.paths import check_tail, upstream_url
from promptgate.errors import ErrorCode, PromptGateError

logger = logging.getLogger(__name__)


def _raw_tail(greq: GatewayRequest) -> bytes | None:
    """The tail exactly as the client encoded it (scope["path"] is already percent-decoded).

    None when nothing follows the slug, b"" when only a slash does: `/proxy/x` and `/proxy/x/` reach
    the upstream as its base path without and with a trailing slash.
    """
    raw_path: bytes = greq.request.scope.get("raw_path") or greq.request.path.encode()
    # raw_path: /api/{uuid}/proxy/{slug}[/{tail}]
    parts = raw_path.split(b"?", 1)[0].split(b"/", 5)
    return parts[5] if len(parts) > 5 else None


async def _endpoint(greq: GatewayRequest) -> tuple[EndpointInfo, str]:
    slug = greq.tail.split("/", 1)[0]
    if not slug:
        raise PromptGateError("Not found", code=ErrorCode.NOT_FOUND, status=404)
    project_id = greq.project.id
    endpoint = await greq.runtime.config.get(
        ("http-endpoint", project_id, slug), lambda: load_endpoint(project_id, slug)
    )
    if endpoint is None or not endpoint.enabled:
        raise PromptGateError(
            f"No endpoint {slug!r} in this project", code=ErrorCode.ENDPOINT_NOT_FOUND, status=404
        )
    return endpoint, slug


def _limits(endpoint: EndpointInfo, greq: GatewayRequest) -> list[ratelimit.Limit]:
    subject = f"http:{endpoint.id}" + (f":token:{greq.token.id}" if endpoint.rate_limit_per_token else "")
    limits = []
    if endpoint.rate_limit_per_minute:
        limits.append(ratelimit.Limit(f"{subject}:m", endpoint.rate_limit_per_minute, 60, "minute"))
    if endpoint.rate_limit_per_hour:
        limits.append(ratelimit.Limit(f"{subject}:h", endpoint.rate_limit_per_hour, 3600, "hour"))
    return limits


# Host names that passed the SSRF check, per allowlist. A pooled keep-alive connection never meets the
# resolver again, so a name is re-checked whenever the allowlist changes (a narrowed allowlist applies
# to warm upstreams at once); a connection, once made, stays pinned to an address that was checked.
_checked_names: dict[tuple[str, int, tuple[str, ...]], bool] = process_state.keep("http.checked_names", {})


async def _check_upstream_host(url: yarl.URL) -> None:
    host = url.raw_host or ""
    if ssrf.check_host(host) is not None:
        return  # an IP literal: checked just now (verdicts cached per allowlist)
    port = url.port or (443 if url.scheme == "https" else 80)
    key = (host, port, tuple(settings.PROMPTGATE_SSRF_ALLOW or ()))
    if key not in _checked_names:
        await ssrf.resolve_checked(host, port)
        if len(_checked_names) >= 4096:  # bounded: tenants choose the names
            _checked_names.clear()
        _checked_names[key] = True


class UpstreamBroke(ClientDisconnected):
    """The upstream failed mid-body, after our status line went out: the client's response can only be
    cut short, exactly as if the client had left (the server closes the connection unfinished)."""


class _ClientBody:
    """The client's body streamed upstream, counted against the endpoint's cap, remembering why it
    stopped (413, client gone).

    The HTTP client wraps whatever its body iterator raises in a transport error; without this the
    client's own fault would come back as a 502 from the upstream. An upstream may answer before it
    read the body (or without reading it at all): `read_rest` then takes the body over and reads the
    rest itself, so the cap holds whatever the upstream does.
    """

    def __init__(self, receive: Receive, max_bytes: int) -> None:
        self.receive = receive
        self.max_bytes = max_bytes
        self.received = 0
        self.complete = False
        self.error: PromptGateError | ClientDisconnected | None = None
        self.finished = asyncio.Event()
        self._reading = asyncio.Lock()  # one reader of `receive` at a time: the upstream writer or us
        self._taken_over = False

    def __aiter__(self) -> _ClientBody:
        return self

    async def __anext__(self) -> bytes:
        async with self._reading:
            if self._taken_over:
                # The upstream answered already: its writer waits here until its connection closes.
                await asyncio.get_running_loop().create_future()
            chunk = await self._next_chunk()
        if chunk is None:
            raise StopAsyncIteration
        return chunk

    async def _next_chunk(self) -> bytes | None:
        """The next non-empty chunk, or None at the end; 413 past the cap, ClientDisconnected."""
        while not self.complete:
            message = await self.receive()
            try:
                if message["type"] == "http.disconnect":
                    raise ClientDisconnected
                chunk = message.get("body", b"")
                self.received += len(chunk)
                if self.received > self.max_bytes:
                    raise payload_too_large(self.max_bytes)
            except (PromptGateError, ClientDisconnected) as exc:
                self.error = exc
                self.finished.set()
                raise
            if not message.get("more_body", False):
                self.complete = True
                self.finished.set()
            if chunk:
                return chunk
        return None

    async def read_rest(self) -> None:
        """Take the body over from the upstream writer and read what is left of it, counted."""
        async with self._reading:
            self._taken_over = True
            while await self._next_chunk() is not None:
                pass


async def _client_gone(greq: GatewayRequest, body: _ClientBody | None) -> None:
    """Returns once the client disconnects (its body, if any, read first: that reader owns receive)."""
    if body is not None:
        await body.finished.wait()
    while (await greq.request.receive())["type"] != "http.disconnect":
        pass


async def _send(
    sending_call: Coroutine[Any, Any, http_client.UpstreamResponse],
    greq: GatewayRequest,
    body: _ClientBody | None,
) -> http_client.UpstreamResponse:
    """Send upstream and wait for its response headers, unless the client leaves first.

    A client gone before the first byte cancels the call, which closes the upstream connection at once
    instead of holding it (and the upstream's worker) until the endpoint's timeout.
    """
    sending = asyncio.ensure_future(sending_call)
    watching = asyncio.ensure_future(_client_gone(greq, body))
    done: set[asyncio.Future[Any]] = set()
    try:
        tasks: set[asyncio.Future[Any]] = {sending, watching}
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:  # our own cancellation included: never leave either task behind
        watching.cancel()
        if sending not in done:
            sending.cancel()
        await asyncio.gather(watching, return_exceptions=True)
    if sending in done:
        return sending.result()
    with contextlib.suppress(asyncio.CancelledError, Exception):  # the client left: only cleanup matters
        late = await sending
        await late.aclose()  # it answered in the same instant: close it all the same
    raise ClientDisconnected


def _whole_answer(method: str, upstream: http_client.UpstreamResponse) -> bytes | None:
    """The upstream's body when it is already complete and can be re-framed by its length.

    HEAD, 204 and 304 answers keep the streaming path: their Content-Length (if any) describes a body
    that is not sent, so it must pass through as the upstream wrote it.
    """
    if method == "HEAD" or upstream.status in (204, 304):
        return None
    return upstream.received_whole()


async def proxy(greq: GatewayRequest) -> Response:
    request = greq.request
    endpoint, slug = await _endpoint(greq)
    greq.log["endpoint"] = slug
    if request.method not in endpoint.allowed_methods:
        raise PromptGateError(
            f"Method {request.method} is not allowed on this endpoint",
            code=ErrorCode.METHOD_NOT_ALLOWED,
            status=405,
            headers={"Allow": ", ".join(sorted(endpoint.allowed_methods))},
        )
    limit_headers = await ratelimit.enforce(_limits(endpoint, greq))
    raw_tail = _raw_tail(greq)
    tail = None if raw_tail is None else check_tail(raw_tail)
    url = upstream_url(
        endpoint.upstream_url,
        tail,
        request.query_string,
        strip_prefix=endpoint.strip_path_prefix,
        preserve_query=endpoint.preserve_query,
    )
    max_body = endpoint.max_body_bytes or settings.PROMPTGATE_MAX_BODY_BYTES
    has_body = request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers
    if has_body and (request.content_length() or 0) > max_body:
        raise payload_too_large(max_body)
    content = _ClientBody(request.receive, max_body) if has_body else None

    try:
        target = http_client.parse_url(url)
    except http_client.InvalidUpstreamURL as exc:  # a stored URL the client cannot use: the upstream's fault
        raise PromptGateError(str(exc), code=exc.code, status=exc.status) from exc
    headers = header_policy.request_headers(
        request.scope["headers"], endpoint, greq.request_id
    ) + await oauth_tokens.upstream_headers(greq, endpoint.oauth_connection_id)
    rules = await guardrails.rules_for(greq, slug)
    headers = guardrails.upstream_headers(rules, headers)
    body: http_client.Body = content
    if content is not None and rules.active("input"):  # input guardrails: read whole, check, maybe rewrite
        body = await guardrails.check_request(greq, rules, request.scope["headers"], content)
    sent_at = time.perf_counter()
    try:
        await _check_upstream_host(target)
        call = http_client.get_client().send(
            request.method,
            target,
            headers=headers,
            content=body,
            timeout=http_client.timeout(endpoint.timeout_seconds),
        )
        upstream = await _send(call, greq, content)
    except ssrf.SsrfBlocked as exc:  # a save-time 400 as raised; at request time it is the upstream's 502
        raise exc.for_request() from None
    except (PromptGateError, ClientDisconnected):
        raise
    except Exception as exc:  # mapped to 502/504 with a message that names no credential
        if content is not None and content.error is not None:
            raise content.error from None  # the client's body failed, not the upstream
        status, code, message = http_client.classify_upstream_error(exc)
        raise PromptGateError(message, code=code, status=status) from exc
    greq.upstream_ms = (time.perf_counter() - sent_at) * 1000
    greq.log["upstream_ms"] = round(greq.upstream_ms, 3)
    if content is not None and not content.complete:
        # The upstream answered before it had the whole body: read the rest before answering, so a
        # body past the cap is a 413 however early (or whether) the upstream read it.
        try:
            await content.read_rest()
        except BaseException:
            await upstream.aclose()
            raise
    if rules.active("output") and request.method != "HEAD" and upstream.status not in (204, 304):
        checked = await guardrails.check_response(
            greq, rules, upstream, limit_headers, header_policy.response_headers(upstream.raw_headers)
        )
        if checked is not None:  # output guardrails read it whole: answered checked (or refused, 502)
            return checked
    whole = _whole_answer(request.method, upstream)
    if whole is not None:
        # All of it came with the head: answer in one piece, without a streaming task pair.
        upstream.close()
        response = Response(whole, status=upstream.status, headers=limit_headers)
        response.raw_headers = [
            (name, value)
            for name, value in header_policy.response_headers(upstream.raw_headers)
            if name.lower() != b"content-length"  # Response sets it from the body it sends
        ]
        return response

    async def response_body() -> AsyncIterator[bytes]:
        try:
            async for chunk in upstream.aiter_raw():
                yield chunk
        except http_client.UpstreamError as exc:
            # Headers are gone already: log the upstream's fault, then cut the client's response short.
            status, code, message = http_client.classify_upstream_error(exc)
            greq.log.update({"status": status, "error_code": code})
            logger.warning("upstream broke mid-body (request %s): %s", greq.request_id, message)
            raise UpstreamBroke from exc

    response = StreamingResponse(
        response_body(), status=upstream.status, headers=limit_headers, on_close=upstream.aclose
    )
    response.raw_headers = header_policy.response_headers(upstream.raw_headers)
    return response
