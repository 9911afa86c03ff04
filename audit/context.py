"""Who is acting and for which request: carried by a ContextVar through sync and async code."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, TypedDict, Unpack

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.contrib.auth.models import AnonymousUser


@dataclass(frozen=True)
class Actor:
    kind: str  # "user" | "api_client" | "token" | "system" | "anonymous"
    id: str = ""
    label: str = ""


SYSTEM = Actor(kind="system", label="system")
ANONYMOUS = Actor(kind="anonymous", label="anonymous")


@dataclass(frozen=True)
class RequestContext:
    actor: Actor = SYSTEM
    ip: str | None = None
    request_id: str = ""
    # Set by the middleware: authentication runs after it, so the actor is looked up when a row is
    # written, not when the request arrives.
    actor_resolver: Callable[[], Actor] | None = None

    def resolved_actor(self) -> Actor:
        return self.actor_resolver() if self.actor_resolver is not None else self.actor


class ContextChanges(TypedDict, total=False):
    """The fields `bind` may replace, by name."""

    actor: Actor
    ip: str | None
    request_id: str
    actor_resolver: Callable[[], Actor] | None


# RequestContext is frozen, so sharing one default instance is safe.
_current: ContextVar[RequestContext] = ContextVar(
    "promptgate_request_context",
    default=RequestContext(),  # noqa: B039
)


def current() -> RequestContext:
    return _current.get()


def new_request_id() -> str:
    """32 hex digits, unique in practice. Not a secret, so no system call for entropy on every request:
    the random module's generator is reseeded in each forked worker, so workers do not repeat ids."""
    return f"{random.getrandbits(128):032x}"


@contextlib.contextmanager
def bind(**changes: Unpack[ContextChanges]) -> Iterator[RequestContext]:
    """Bind actor/ip/request_id for the duration of a block (management commands, tests, views)."""
    ctx = replace(_current.get(), **changes)
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)


def activate(ctx: RequestContext) -> object:
    """Install a context; returns the reset token for `deactivate` (middleware use)."""
    return _current.set(ctx)


def deactivate(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]  # the Token activate() returned, typed object for callers


def actor_for_user(user: AbstractBaseUser | AnonymousUser | None) -> Actor:
    if user is None or not user.is_authenticated:
        return ANONYMOUS
    return Actor(kind="user", id=str(user.pk), label=user.get_username())
