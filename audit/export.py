"""Export of a project's request-log rows as JSON Lines or CSV, streamed in bounded memory.

Rows are read in keyset chunks of CHUNK_ROWS, oldest first (`time, id > last`: each chunk is an index
range of (project_uuid, time), whatever the size of the range), rendered and handed on before the next
chunk is read: memory holds one chunk, however many rows the range has. `manage.py export_logs` writes
the lines to a file or stdout; the management API streams them (an async iterator under ASGI, where a
sync one would be read whole first; a sync one under WSGI).
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from decimal import Decimal
from typing import Any

from asgiref.sync import sync_to_async
from django.db import connections
from django.utils.dateparse import parse_date, parse_datetime

from audit.models import RequestLog

CHUNK_ROWS = 1000
FORMATS = ("jsonl", "csv")
CONTENT_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}
COLUMNS = [
    f.name for f in RequestLog._meta.concrete_fields
]  # id, time, project_uuid, gateway, … (the model's order)
Chunk = list[dict[str, Any]]


class ExportError(ValueError):
    """A bad project, range or format (the message says which)."""


def parse_range(
    project: str | None, since: str | None, until: str | None, fmt: str | None
) -> tuple[str, datetime.datetime, datetime.datetime, str]:
    """(project, since, until, format) from text. A day alone means its start for `since` and its end
    for `until` (the day included); times are exact, `until` excluded. Both are required."""

    try:
        project = str(uuid.UUID(project or ""))
    except ValueError:
        raise ExportError("project must be a project uuid") from None
    fmt = fmt or "jsonl"
    if fmt not in FORMATS:
        raise ExportError(f"format must be one of {', '.join(FORMATS)}")
    bounds = []
    for name, text, day_end in (("since", since, False), ("until", until, True)):
        if not text:
            raise ExportError(f"{name} is required (a date or an ISO 8601 time)")
        try:  # a day alone first: parse_datetime would read "2026-11-26" as its midnight
            day = parse_date(text) if len(text) == 10 else None
            at = None if day is not None else parse_datetime(text)
        except ValueError:
            at, day = None, None
        if day is not None:
            at = datetime.datetime.combine(day, datetime.time.min, datetime.UTC)
            at += datetime.timedelta(days=1) if day_end else datetime.timedelta()
        elif at is None:
            raise ExportError(f"{name} must be a date (YYYY-MM-DD) or an ISO 8601 time")
        bounds.append(at if at.tzinfo else at.replace(tzinfo=datetime.UTC))
    if bounds[0] >= bounds[1]:
        raise ExportError("since must be before until")
    return project, bounds[0], bounds[1], fmt


def fetch_chunk(
    project: str, since: datetime.datetime, until: datetime.datetime, after: tuple[Any, int] | None
) -> Chunk:
    """The next CHUNK_ROWS rows of the range after `after` = (time, id), oldest first."""
    rows = RequestLog.objects.filter(project_uuid=project, time__gte=since, time__lt=until)
    if after is not None:
        at, pk = after
        rows = rows.filter(time__gte=at).exclude(time=at, id__lte=pk)
    return list(rows.order_by("time", "id").values(*COLUMNS)[:CHUNK_ROWS])


def _value(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def render(fmt: str) -> tuple[Callable[[Chunk], str], str]:
    """(chunk → text, header) for a format."""
    if fmt == "jsonl":
        return lambda chunk: "".join(
            json.dumps({k: _value(v) for k, v in row.items()}, separators=(",", ":")) + "\n" for row in chunk
        ), ""

    def as_csv(chunk: Chunk) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        for row in chunk:
            writer.writerow([_csv_cell(_value(row[c])) for c in COLUMNS])
        return out.getvalue()

    head = io.StringIO()
    csv.writer(head).writerow(COLUMNS)
    return as_csv, head.getvalue()


def _csv_cell(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value  # no formula injection when the file is opened in a spreadsheet
    return "" if value is None else value


def _next_after(chunk: Chunk) -> tuple[Any, int]:
    return chunk[-1]["time"], chunk[-1]["id"]


def stream(project: str, since: datetime.datetime, until: datetime.datetime, fmt: str) -> Iterator[str]:
    """The export's text, a chunk at a time (the command; WSGI)."""
    to_text, header = render(fmt)
    if header:
        yield header
    after = None
    while True:
        chunk = fetch_chunk(project, since, until, after)
        if not chunk:
            return
        yield to_text(chunk)
        if len(chunk) < CHUNK_ROWS:
            return
        after = _next_after(chunk)


async def astream(
    project: str, since: datetime.datetime, until: datetime.datetime, fmt: str
) -> AsyncIterator[bytes]:
    """The same under ASGI: each chunk is read in a worker thread, the event loop only sends."""
    to_text, header = render(fmt)
    if header:
        yield header.encode()
    fetch = sync_to_async(_fetch_closing, thread_sensitive=False)
    after = None
    while True:
        chunk = await fetch(project, since, until, after)
        if not chunk:
            return
        yield to_text(chunk).encode()
        if len(chunk) < CHUNK_ROWS:
            return
        after = _next_after(chunk)


def _fetch_closing(project: str, since: datetime.datetime, until: datetime.datetime, after: Any) -> Chunk:
    try:
        return fetch_chunk(project, since, until, after)
    finally:
        connections.close_all()  # a worker thread of its own: give the connection back (pool) each chunk
