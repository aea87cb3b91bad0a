"""Streamed search answers: ``/api/v1/search/export`` (NDJSON or CSV) and ``/api/v1/search/tail``.

Export streams every row of a query (events newest first, or the table of an
aggregate) as the search finds them, so memory stays flat whatever the size.
Tail is a ``text/event-stream`` of the events that arrive after it opened (or, for a
browser reconnecting with ``Last-Event-ID``, after that event) and that the query's
leading filter matches: one ``event: event`` message per
event (its ``data`` the event as ``POST /api/v1/search`` returns it, its ``id``
``partition:offset``), a comment every ``KEEPALIVE`` seconds when idle, and an
``event: skipped`` message when a burst brought more than a poll returns.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from lakehose.errors import SearchTimeoutError
from lakehose.query import Plan, TimeRange
from lakehose.search.run import start_search
from lakehose.search.tail import Tail
from lakehose.server.replies.errors import ApiError
from lakehose.server.routes.search_views import query_and_range, whole_number
from lakehose.server.runtime import Runtime
from lakehose.server.search_access import authorise
from lakehose.storage.lake import lake_address, open_accounts, open_columnar, open_readers

log = logging.getLogger(__name__)

FORMATS = {"ndjson": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}
EVENT_COLUMNS = (
    "@timestamp",
    "#connector",
    "#index",
    "#sourcetype",
    "host",
    "source",
    "partition",
    "offset",
    "@rawstring",
)
KEEPALIVE = 15.0
MAX_EXPORT = 100_000_000


def raw_text(event: dict[str, Any]) -> str:
    """An event's text on one line: the raw line or string event as sent, else its JSON."""
    raw = event.get("@rawstring")
    if isinstance(raw, str):
        return raw
    body = event.get("event")
    if isinstance(body, str):
        return body
    return orjson.dumps(body).decode()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def _iso(ms: Any) -> str:
    if not isinstance(ms, int):
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def csv_line(values: list[str]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(values)
    return out.getvalue().encode()


def event_cells(event: dict[str, Any]) -> list[str]:
    """An event's CSV cells, in :data:`EVENT_COLUMNS` order."""
    cells = []
    for column in EVENT_COLUMNS:
        if column == "@timestamp":
            cells.append(_iso(event.get("@timestamp")))
        elif column == "@rawstring":
            cells.append(raw_text(event))
        else:
            cells.append(_cell(event.get(column)))
    return cells


class SearchStreams:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    def _rows(self, plan: Plan, span: TimeRange, limit: int | None, fmt: str) -> Iterator[bytes]:
        settings = self.rt.settings
        readers = open_readers(lake_address(settings), settings.partitions)
        try:
            # an aggregate the columnar tier can answer runs there too (search/tiers.py)
            _, found = start_search(
                lambda: readers,
                plan,
                span,
                limit=limit,
                time_limit=settings.search_timeout,
                columnar=lambda: open_columnar(lake_address(settings)),
            )
            events = plan.kind == "events"
            if fmt == "csv":
                yield csv_line(list(EVENT_COLUMNS if events else plan.columns))
            for row in found:
                if fmt == "ndjson":
                    yield orjson.dumps(row) + b"\n"
                elif events:
                    yield csv_line(event_cells(row))
                else:
                    yield csv_line([_cell(row.get(c)) for c in plan.columns])
        except SearchTimeoutError as exc:
            log.warning("export stopped: %s", exc)
        finally:
            for reader in readers:
                reader.close()

    async def export(self, request: Request) -> Response:
        who = authorise(request, self.rt)
        plan, span = query_and_range(request)
        params = request.query_params
        fmt = params.get("format", "ndjson")
        if fmt not in FORMATS:
            raise ApiError(400, "format must be ndjson or csv")
        limit: int | None = whole_number(params, "limit", 0, 1, MAX_EXPORT) or None
        if who.startswith("user:"):  # a console user took the data away: the audit log says so
            address = request.client.host if request.client else ""
            detail = f"{fmt}, {params.get('start') or 'all time'} to {params.get('end') or 'now'}"
            await asyncio.to_thread(
                open_accounts(self.rt.catalog).audit,
                who[5:], "search export", plan.query.text[:500], detail, address,
            )  # fmt: skip
        return StreamingResponse(
            self._rows(plan, span, limit, fmt),
            media_type=FORMATS[fmt],
            headers={
                "Content-Disposition": f'attachment; filename="lakehose-search.{fmt}"',
                "Cache-Control": "no-store",
            },
        )

    async def tail(self, request: Request) -> Response:
        authorise(request, self.rt)
        plan, _ = query_and_range(request)
        settings = self.rt.settings
        tail = await asyncio.to_thread(Tail, plan, lake_address(settings), settings.partitions)
        last = request.headers.get("last-event-id", "").partition(":")  # EventSource reconnecting
        if last[0].isascii() and last[0].isdigit() and last[2].isascii() and last[2].isdigit():
            tail.resume_after(int(last[0]), int(last[2]))
        return StreamingResponse(
            self._messages(tail),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    async def _messages(self, tail: Tail) -> AsyncIterator[bytes]:
        rt = self.rt
        try:
            yield b"retry: 3000\n: tailing\n\n"
            while not rt.shutting_down:
                waits = [
                    asyncio.ensure_future(rt.wait_for_end_past(p, position, KEEPALIVE))
                    for p, position in tail.positions.items()
                ]
                stopping = asyncio.ensure_future(rt.stopping.wait())
                try:
                    await asyncio.wait([*waits, stopping], return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for task in [*waits, stopping]:
                        task.cancel()
                if rt.shutting_down:
                    break
                skipped = tail.skipped
                rows = await asyncio.to_thread(tail.poll)
                if tail.skipped != skipped:
                    yield b"event: skipped\ndata: {}\n\n"
                if not rows:
                    yield b": keep-alive\n\n"
                for row in rows:
                    ident = f"{row['partition']}:{row['offset']}".encode()
                    yield b"event: event\nid: " + ident + b"\ndata: " + orjson.dumps(row) + b"\n\n"
        finally:
            await asyncio.to_thread(tail.close)
