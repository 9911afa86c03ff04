"""Limit/offset pagination of the management API lists, with a ceiling on `limit`.

DRF's class passes any `?limit=` through to the slice, and SQLite cannot bind an integer past 2**63:
`?limit=99999999999999999999` answered 500 on every list. A ceiling keeps the slice bindable and
bounds what one request may read.
"""

from __future__ import annotations

from rest_framework.pagination import LimitOffsetPagination

MAX_PAGE_LIMIT = 1000


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    """Pages of `?limit=` rows (default 50, at most 1,000) from `?offset=`."""

    max_limit = MAX_PAGE_LIMIT
