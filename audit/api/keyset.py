"""Keyset pagination over (time, id), newest first: every page is an index range, never an OFFSET.

DRF's CursorPagination keys on the first ordering field alone and skips ties with an OFFSET; at
100 M rows with many rows per timestamp that can turn into a scan. Here the cursor carries the last
row's (time, id): the next page is `time <= t` (the range an index on (…, time) walks backwards)
without the rows at `t` whose id is not below `i`, ordered by (time, id) descending, LIMIT n + 1.
The previous page is the mirror image. A cursor is opaque (base64 of JSON) and a forged one is
refused as an invalid cursor (404, like the audit trail's).

On PostgreSQL's daily partitions a page going back in time is first looked for in a window of the
newest days below its start (1, then 8, 64 days), and in the whole range only when the window holds
too few rows: a bound on `time` lets the planner prune the partitions outside the window, where without
one it plans every partition of the range (a year of them: ~0.9 s of planning a page at 10 M rows,
bench/results/request-logs-10m.md). A window that holds a full page holds exactly the rows the whole
range would give first: every row outside it is older than every row in it.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from django.db import connections
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import NotFound
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response

from audit import partitions

INVALID = "Invalid cursor"
WINDOW_DAYS = (1, 8, 64)  # then the whole range


def windowed(queryset: QuerySet[Any]) -> bool:
    """Whether newest-first pages are looked for in windows of days first (the partitioned table)."""
    return queryset.model._meta.db_table == partitions.TABLE and partitions.enabled(connections[queryset.db])


def newest_first(queryset: QuerySet[Any], below: datetime.datetime | None, count: int) -> list[Any]:
    """The first `count` rows of `queryset` ordered by (time, id) descending; `below`: the newest time
    they can have (a cursor's), None for now. Windows of the newest days first (module docstring)."""
    ordered = queryset.order_by("-time", "-id")
    if windowed(queryset):
        top = below or timezone.now()
        for days in WINDOW_DAYS:
            rows = list(ordered.filter(time__gte=top - datetime.timedelta(days=days))[:count])
            if len(rows) == count:
                return rows
    return list(ordered[:count])


def encode_cursor(at: datetime.datetime, pk: int, direction: str) -> str:
    raw = json.dumps({"t": at.isoformat(), "i": pk, "d": direction}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(text: str) -> tuple[datetime.datetime, int, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        at, pk, direction = parse_datetime(data["t"]), int(data["i"]), data["d"]
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError):
        raise NotFound(INVALID) from None
    if at is None or direction not in ("next", "prev"):
        raise NotFound(INVALID)
    return at, pk, direction


class KeysetPagination(BasePagination):
    """Pages of `page_size` rows (at most `max_page_size`), newest first, with next/previous cursors."""

    page_size = 50
    max_page_size = 500

    def paginate_queryset(
        self, queryset: QuerySet[Any] | Sequence[Any], request: Request, view: Any = None
    ) -> list[Any]:
        if not isinstance(queryset, QuerySet):
            raise TypeError("keyset pagination filters and orders a QuerySet")
        self.request = request
        size = self.page_size
        raw_size = request.query_params.get("page_size")
        if raw_size:
            try:
                size = max(1, min(int(raw_size), self.max_page_size))
            except ValueError:
                size = self.page_size
        cursor = request.query_params.get("cursor")
        direction = "next"
        below = None  # the newest time a row of this page may have (None: now)
        if cursor:
            at, pk, direction = decode_cursor(cursor)
            below = at
            if direction == "next":  # older than (at, pk)
                queryset = queryset.filter(time__lte=at).exclude(time=at, id__gte=pk)
            else:  # newer than (at, pk)
                queryset = queryset.filter(time__gte=at).exclude(time=at, id__lte=pk)
        if direction == "next":
            rows = newest_first(queryset, below, size + 1)
        else:  # bounded below by the cursor's time already
            rows = list(queryset.order_by("time", "id")[: size + 1])
        more = len(rows) > size
        rows = rows[:size]
        if direction == "prev":
            rows.reverse()
        # Going back, there are older rows (we came from them); going forward, newer ones if a cursor led here.
        self.has_next = more if direction == "next" else bool(rows)
        self.has_prev = (bool(cursor) and bool(rows)) if direction == "next" else more
        self.rows = rows
        return rows

    def _link(self, row: Any, direction: str) -> str:
        params = {k: v for k, v in self.request.query_params.items() if k != "cursor"}
        params["cursor"] = encode_cursor(row.time, row.pk, direction)
        return self.request.build_absolute_uri(self.request.path) + "?" + urlencode(params)

    def get_paginated_response(self, data: Any) -> Response:
        return Response(
            {
                "next": self._link(self.rows[-1], "next") if self.rows and self.has_next else None,
                "previous": self._link(self.rows[0], "prev") if self.rows and self.has_prev else None,
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["results"],
            "properties": {
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "previous": {"type": "string", "nullable": True, "format": "uri"},
                "results": schema,
            },
        }
