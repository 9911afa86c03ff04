"""Refresh under a cross-process lock: one refresh per connection at a time, in any number of processes.

Lock: Redis (SET NX PX with a random token, released by a compare-and-delete script) when REDIS_URL
is set, else the connection's row (select_for_update; on SQLite the IMMEDIATE transaction is the lock).
Under the lock the row is read again (another process may have refreshed already), and read again
after `invalid_grant` (a racing holder of an older snapshot may have rotated the refresh token).
Everything here is blocking: the data plane runs it in a worker thread, with `send` bridging the HTTP
call back to its event loop.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from credentials.models import OAuthConnection, OAuthStatus
from credentials.oauth import store
from credentials.oauth.client import RawResponse
from credentials.oauth.protocol import HttpCall, OAuthError, TokenSet, parse_token_response, token_call
from gateways.common import redis_clients
from promptgate.errors import ErrorCode

REFRESH_MARGIN_SECONDS = 60
LOCK_TTL_MS = 30_000
LOCK_WAIT_SECONDS = 35.0
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"

Sender = Callable[[HttpCall], RawResponse]


@dataclass(frozen=True)
class Outcome:
    """The access token to use, or the error code (oauth_reauth_required, oauth_refresh_failed, ...)."""

    access_token: str = ""
    error: str = ""
    message: str = ""


def expiring(conn: OAuthConnection, margin: float = REFRESH_MARGIN_SECONDS) -> bool:
    return conn.expires_at is not None and conn.expires_at.timestamp() - time.time() <= margin


@contextmanager
def _redis_lock(connection_id: int) -> Iterator[None]:
    client = redis_clients.sync_client()
    name = redis_clients.key("oauth-refresh-lock", connection_id)
    token = secrets.token_hex(16)
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while not client.set(name, token, nx=True, px=LOCK_TTL_MS):
        if time.monotonic() > deadline:
            raise OAuthError("transport", "lock_timeout", "Another process holds the refresh lock")
        time.sleep(0.05)

    def release() -> None:
        client.eval(_RELEASE, 1, name, token)

    try:
        yield
    finally:
        # Inside a request transaction the new tokens are visible to others only after commit, so
        # the lock is held until then (a rollback leaves it to expire).
        transaction.on_commit(release)


@contextmanager
def locked(connection_id: int) -> Iterator[OAuthConnection | None]:
    """The connection read fresh under the refresh lock (None when it was deleted)."""
    if redis_clients.enabled():
        with _redis_lock(connection_id):
            yield OAuthConnection.objects.filter(pk=connection_id).first()
    else:
        with transaction.atomic():
            yield OAuthConnection.objects.select_for_update().filter(pk=connection_id).first()


def refresh(connection_id: int, send: Sender, *, force: bool = False) -> Outcome:
    """Refresh if (still) needed under the lock; `force` refreshes even a fresh token (manual refresh)."""
    with locked(connection_id) as conn:
        if conn is None:
            return Outcome(
                error=ErrorCode.OAUTH_NOT_CONNECTED, message="The OAuth connection no longer exists"
            )
        return _refresh_held(conn, send, force=force)


def _refresh_held(conn: OAuthConnection, send: Sender, *, force: bool) -> Outcome:
    if conn.status == OAuthStatus.NEEDS_REAUTH:
        return Outcome(
            error=ErrorCode.OAUTH_REAUTH_REQUIRED, message="The OAuth connection needs re-authorization"
        )
    if conn.status != OAuthStatus.CONNECTED or not conn.access_token:
        return Outcome(error=ErrorCode.OAUTH_NOT_CONNECTED, message="The OAuth connection is not connected")
    if not force and not expiring(conn):
        return Outcome(access_token=conn.access_token)  # refreshed meanwhile by another process
    if not conn.refresh_token:
        if conn.expires_at is not None and conn.expires_at <= timezone.now():
            store.mark_needs_reauth(conn, "expired_without_refresh_token")
            return Outcome(
                error=ErrorCode.OAUTH_REAUTH_REQUIRED, message="The OAuth token expired; connect again"
            )
        return Outcome(access_token=conn.access_token)
    for _attempt in range(2):
        used = conn.refresh_token
        try:
            tokens = _exchange(conn, send, used)
        except OAuthError as exc:
            if exc.kind != "grant_gone":
                store.note_error(conn, exc.message)
                still_valid = conn.expires_at is None or conn.expires_at > timezone.now()
                if still_valid and not force:
                    return Outcome(access_token=conn.access_token)  # use it while it lasts
                return Outcome(error=ErrorCode.OAUTH_REFRESH_FAILED, message=exc.message)
            fresh = OAuthConnection.objects.filter(pk=conn.pk).first()
            if fresh is not None and fresh.refresh_token and fresh.refresh_token != used:
                if fresh.status == OAuthStatus.CONNECTED and not expiring(fresh):
                    return Outcome(access_token=fresh.access_token)
                conn = fresh  # rotated by a racer: try once more with the new one
                continue
            store.mark_needs_reauth(conn, exc.code)
            return Outcome(
                error="oauth_reauth_required", message="The OAuth grant was revoked; connect again"
            )
        store.apply_tokens(conn, tokens, keep_refresh=True)
        return Outcome(access_token=conn.access_token)
    store.mark_needs_reauth(conn, "invalid_grant")
    return Outcome(
        error=ErrorCode.OAUTH_REAUTH_REQUIRED, message="The OAuth grant was revoked; connect again"
    )


def _exchange(conn: OAuthConnection, send: Sender, refresh_token: str) -> TokenSet:
    call = token_call(
        store.client_info(conn), {"grant_type": "refresh_token", "refresh_token": refresh_token}
    )
    raw = send(call)
    return parse_token_response(conn.provider, raw.status, raw.body, raw.content_type)
