"""Access logs without credentials: no query string, referer or header value ever reaches a log.

A client may send a token in the query string (refused, but sent all the same) or in a header, and
uvicorn's access log writes the path with its query string (`GET /api/...?api_key=pg_live_...`).
`install()` puts a filter on uvicorn's and gunicorn's access loggers, whichever server runs us
(`python -m uvicorn`, or gunicorn with uvicorn workers as `make run` and the image do), so however
the operator turns access logging on, a line names the method, the path and the status, nothing more.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

# gunicorn's atoms that can carry a credential: the query, the request line, the referer, headers.
_GUNICORN_UNSAFE = ("q", "r", "f")


def _without_query(target: Any) -> Any:
    return target.split("?", 1)[0] if isinstance(target, str) else target


class CredentialFreeAccessLog(logging.Filter):
    """Strips query strings (uvicorn's `%s - "%s %s HTTP/%s" %d`) and unsafe atoms (gunicorn's)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3:
            record.args = (*args[:2], _without_query(args[2]), *args[3:])
        elif isinstance(args, Mapping):
            safe = dict(args)
            for key in list(safe):
                if key in _GUNICORN_UNSAFE or (key.startswith("{") and key[-2:] in ("}i", "}o", "}e")):
                    safe[key] = "-"
            if "r" in args:
                safe["r"] = _without_query(args["r"])
            record.args = safe
        return True


_FILTER = CredentialFreeAccessLog()


def install() -> None:
    """Attach the filter to both servers' access loggers (idempotent)."""
    for name in ("uvicorn.access", "gunicorn.access"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
