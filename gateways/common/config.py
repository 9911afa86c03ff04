"""Process-local cache of data-plane config (projects, tokens, endpoints), dropped when the version moves.

Entries are immutable snapshots loaded through `db.run_sync` on a miss; concurrent misses of one key
share a single load. A change anywhere bumps the shared version (see versioning.py) and every process
drops its entries within one poll, so a warm request answers from memory alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from gateways.common import db, versioning
from projects.models import ApiToken, Project

T = TypeVar("T")
_MISSING = object()


@dataclass(frozen=True, slots=True)
class ProjectInfo:
    id: int
    uuid: str
    name: str
    slug: str
    project_type: str
    env: str
    is_active: bool
    allowed_origins: frozenset[str] = frozenset()  # CORS: browser origins this project admits


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: int
    project_id: int
    digest: str
    prefix: str
    name: str
    scopes: frozenset[str]
    expires_at: float | None  # epoch seconds
    revoked: bool
    max_requests: int | None
    request_count: int
    mcp_tools: tuple[str, ...] = ()  # MCP tool globs this token may use; empty: all


class ConfigCache:
    def __init__(self, max_entries: int = 50_000) -> None:
        self.max_entries = max_entries
        self._entries: dict[Any, Any] = {}
        self._inflight: dict[Any, asyncio.Future[Any]] = {}
        self._version = versioning.local_version.value

    def _current(self) -> int:
        version = versioning.local_version.value
        if version != self._version:
            self._entries.clear()
            self._version = version
        return version

    def peek(self, key: Any) -> Any:
        self._current()
        return self._entries.get(key, _MISSING)

    async def get(self, key: Any, loader: Callable[[], T]) -> T:
        version = self._current()
        cached = self._entries.get(key, _MISSING)
        if cached is not _MISSING:
            return cast(T, cached)  # what `loader` (this key's loader) made
        pending = self._inflight.get(key)
        if pending is not None and not pending.done():
            return cast(T, await asyncio.shield(pending))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            value = await db.run_sync(loader)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it, nobody else must
            raise
        finally:
            if self._inflight.get(key) is future:
                del self._inflight[key]
        future.set_result(value)
        # Only keep what was loaded under the version still current: a change during the load wins.
        if versioning.local_version.value == version:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[key] = value
        return value

    def clear(self) -> None:
        self._entries.clear()


def load_project(project_uuid: str) -> ProjectInfo | None:
    row = Project.objects.filter(uuid=project_uuid).first()
    if row is None:
        return None
    return ProjectInfo(
        id=row.id,
        uuid=str(row.uuid),
        name=row.name,
        slug=row.slug,
        project_type=row.project_type,
        env=row.env,
        is_active=row.is_active,
        allowed_origins=frozenset(str(o) for o in row.allowed_origins or ()),
    )


def load_token(digest: str) -> TokenInfo | None:
    row = ApiToken.objects.filter(digest=digest).first()
    if row is None:
        return None
    return TokenInfo(
        id=row.id,
        project_id=row.project_id,
        digest=row.digest,
        prefix=row.prefix,
        name=row.name,
        scopes=frozenset(row.scopes or ()),
        expires_at=row.expires_at.timestamp() if row.expires_at else None,
        revoked=row.revoked_at is not None,
        max_requests=row.max_requests,
        request_count=row.request_count,
        mcp_tools=tuple(row.mcp_tools or ()),
    )
