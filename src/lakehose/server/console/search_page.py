"""The search page, ``/console/search``: query bar, time range, histogram, events, fields, tail.

Its whole state is in the URL: ``q`` (the query), ``start`` and ``end`` (as the
search API takes them; without ``start`` the last 24 hours). The first page of
rows is rendered here, so the page is usable as soon as it arrives; the
histogram (``/api/v1/search/histogram``), the field list (``/search/fields``)
and each event's details (``/search/event/P/O``) load after it, and ``search.js``
draws the chart, keeps the query history and runs the live tail. Every value
from an event reaches the page through Jinja's escaping or ``textContent``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from lakehose.errors import NotFoundError, QueryError, SearchTimeoutError
from lakehose.query import Plan, TimeRange, plan_query, time_range
from lakehose.query.compose import add_filter, clause
from lakehose.search import facets
from lakehose.search.engine import Search
from lakehose.search.neighbours import around
from lakehose.search.run import start_search
from lakehose.server.console import pages_doc
from lakehose.server.console.app import Console
from lakehose.server.console.guard import Visitor, guarded
from lakehose.server.routes import search_views
from lakehose.server.routes.search_stream import raw_text
from lakehose.storage.base import LogReader
from lakehose.storage.lake import lake_address, open_columnar, open_reader, open_readers

PAGE_SIZE = 200
DEFAULT_START = "24h"
PRESETS = (("15m", "15 min"), ("1h", "1 hour"), ("24h", "24 hours"), ("7d", "7 days"),
           ("30d", "30 days"), ("", "All time"))  # fmt: skip
FIELD_SAMPLE = 10_000
CONTEXT = 5  # events before and after on an event's own page
MAX_CONTEXT = 100
LINE_CHARS = 1000  # an event's line in the list is cut here (its details hold all of it)
CONCURRENT = 4
T = TypeVar("T")

pages_doc.register("GET", "/console/search", "the search page: ?q=&start=&end=", "analyst")
pages_doc.register("GET", "/console/search/more", "the next page of events (fragment)", "analyst")
pages_doc.register("GET", "/console/search/fields", "top field values (fragment)", "analyst")
for _path in search_views.PATHS:
    pages_doc.register(
        "GET", "/console" + _path, f"{_path} for the page, with the session cookie", "analyst"
    )
pages_doc.register(
    "GET",
    "/console/search/event/{partition}/{offset}",
    "one event with its neighbours (?context=N); its details as a fragment for htmx",
    "analyst",
)


def iso(ns: int | None) -> str:
    """An ISO 8601 time with milliseconds, as the range fields and URLs carry it."""
    if ns is None:
        return ""
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def event_line(event: dict[str, Any]) -> dict[str, Any]:
    """What the list shows of an event: its position, time, tags and text on one line."""
    text = raw_text(event)
    return {
        "partition": event["partition"],
        "offset": event["offset"],
        "time": iso(event["time"]),
        "connector": event["#connector"],
        "host": event.get("host") or "",
        "text": text if len(text) <= LINE_CHARS else text[:LINE_CHARS] + " …",
    }


def event_detail(event: dict[str, Any]) -> dict[str, Any]:
    """An event's details: its metadata and the event pretty-printed."""
    body = event.get("event")
    pretty = orjson.dumps(body, option=orjson.OPT_INDENT_2).decode()
    metadata = [
        ("time", iso(event["time"])),
        ("ingest time", iso(event["ingest_time"])),
        ("connector", event["#connector"]),
        ("index", event["#index"]),
        ("sourcetype", event["#sourcetype"]),
        ("host", event.get("host") or ""),
        ("source", event.get("source") or ""),
        ("partition", str(event["partition"])),
        ("offset", str(event["offset"])),
    ]
    fields = event.get("fields") or {}
    return {
        **event_line(event),
        "metadata": metadata,
        "fields": orjson.dumps(fields, option=orjson.OPT_INDENT_2).decode() if fields else "",
        "pretty": pretty,
        "raw": event.get("@rawstring"),
    }


def search_url(q: str, start: str, end: str, **extra: str) -> str:
    params = {"q": q, "start": start, "end": end, **extra}
    return "/console/search?" + urlencode({k: v for k, v in params.items() if k == "start" or v})


class SearchPage:
    def __init__(self, console: Console) -> None:
        self.console = console
        self._slots = asyncio.Semaphore(CONCURRENT)

    async def scan(self, work: Callable[[list[LogReader]], T]) -> T:
        settings = self.console.runtime.settings

        def run() -> T:
            readers = open_readers(lake_address(settings), settings.partitions)
            try:
                return work(readers)
            finally:
                for reader in readers:
                    reader.close()

        async with self._slots:
            return await asyncio.to_thread(run)

    def _search(
        self, plan: Plan, span: TimeRange, cursor: str | None = None
    ) -> Callable[[list[LogReader]], tuple[list[dict[str, Any]], Search]]:
        """The first page (or the page at ``cursor``) of a search, for :meth:`scan`."""
        settings = self.console.runtime.settings

        def work(readers: list[LogReader]) -> tuple[list[dict[str, Any]], Search]:
            # an aggregate the columnar tier can answer runs there too (search/tiers.py)
            search, rows = start_search(
                lambda: readers,
                plan,
                span,
                limit=PAGE_SIZE,
                cursor=cursor,
                time_limit=settings.search_timeout,
                columnar=lambda: open_columnar(lake_address(settings)),
            )
            return list(rows), search

        return work

    @staticmethod
    def _state(request: Request) -> tuple[str, str, str]:
        params = request.query_params
        start = params["start"] if "start" in params else DEFAULT_START
        return params.get("q", ""), start, params.get("end", "")

    async def page(self, request: Request, visitor: Visitor) -> Response:
        q, start, end = self._state(request)
        context: dict[str, Any] = {
            "q": q,
            "start": start,
            "end": end,
            "presets": PRESETS,
            "params": urlencode({"q": q, "start": start, "end": end}),
            "error": None,
        }
        status = 200
        try:
            plan = plan_query(q)
            span = time_range(start or None, end or None)
            rows, search = await self.scan(self._search(plan, span))
        except (QueryError, SearchTimeoutError) as exc:
            status = 400 if isinstance(exc, QueryError) else 422
            context["error"] = _error(q, exc)
            return self.console.render(
                request, "search.html", context, visitor=visitor, status=status
            )
        context.update(
            kind=plan.kind,
            columns=plan.columns,
            stats=search.stats,
            truncated=search.truncated,
            span_start=iso(search.span.start),
            span_end=iso(search.span.end),
            fixed_link=search_url(q, iso(search.span.start), iso(search.span.end)),
        )
        if plan.kind == "events":
            context["events"] = [event_line(e) for e in rows]
            context["more"] = _more_url(q, search.next_cursor)
        else:
            context["table"] = _table(plan.columns, rows)
        return self.console.render(request, "search.html", context, visitor=visitor)

    async def more(self, request: Request, visitor: Visitor) -> Response:
        q = request.query_params.get("q", "")
        cursor = request.query_params.get("cursor") or None
        try:
            plan = plan_query(q)
            rows, search = await self.scan(self._search(plan, TimeRange(), cursor))
        except (QueryError, SearchTimeoutError) as exc:
            return self.console.render(
                request, "search_error.html", {"error": _error(q, exc)}, visitor=visitor
            )
        return self.console.render(
            request,
            "search_events.html",
            {"events": [event_line(e) for e in rows], "more": _more_url(q, search.next_cursor)},
            visitor=visitor,
        )

    async def fields(self, request: Request, visitor: Visitor) -> Response:
        q, start, end = self._state(request)
        try:
            plan = plan_query(q)
            span = time_range(start or None, end or None)
            limit = self.console.runtime.settings.search_timeout
            found = await self.scan(
                lambda readers: facets.top_values(
                    plan, readers, span, sample=FIELD_SAMPLE, time_limit=limit
                )
            )
        except (QueryError, SearchTimeoutError) as exc:
            return self.console.render(
                request, "search_error.html", {"error": _error(q, exc)}, visitor=visitor
            )
        listed = []
        for f in found.fields:
            values = []
            for top in f["top"]:
                value = top["value"]
                add, drop = clause(f["field"], value), clause(f["field"], value, negate=True)
                values.append(
                    {
                        "text": value if isinstance(value, str) else orjson.dumps(value).decode(),
                        "count": top["count"],
                        "add": add and search_url(add_filter(q, add), start, end),
                        "drop": drop and search_url(add_filter(q, drop), start, end),
                    }
                )
            listed.append({**f, "values": values})
        return self.console.render(
            request,
            "search_fields.html",
            {"fields": listed, "events": found.events, "complete": found.complete},
            visitor=visitor,
        )

    async def event(self, request: Request, visitor: Visitor) -> Response:
        settings = self.console.runtime.settings
        p_text = request.path_params["partition"]
        o_text = request.path_params["offset"]
        n_text = request.query_params.get("context", str(CONTEXT))
        valid = all(t.isascii() and t.isdigit() and len(t) < 19 for t in (p_text, o_text, n_text))
        if not valid or int(p_text) >= settings.partitions:
            return self.console.render(
                request, "search_error.html", {"error": {"message": "no such event"}},
                visitor=visitor, status=404,
            )  # fmt: skip
        partition, offset = int(p_text), int(o_text)
        fragment = bool(request.headers.get("hx-request"))
        n = 0 if fragment else min(int(n_text), MAX_CONTEXT)

        def read() -> list[dict[str, Any]]:
            reader = open_reader(lake_address(settings), partition)
            try:
                return around(reader, offset, n, n)
            finally:
                reader.close()

        try:
            async with self._slots:
                events = await asyncio.to_thread(read)
        except NotFoundError:
            return self.console.render(
                request, "search_error.html", {"error": {"message": "no such event (removed?)"}},
                visitor=visitor, status=404,
            )  # fmt: skip
        (this,) = [e for e in events if e["offset"] == offset]
        detail = event_detail(this)
        if fragment:
            return self.console.render(
                request, "search_detail.html", {"e": detail}, visitor=visitor
            )
        return self.console.render(
            request,
            "search_event.html",
            {
                "e": detail,
                "context": n,
                "events": [event_line(e) for e in events],
                "back": search_url(f"#connector={this['#connector']}", "", ""),
            },
            visitor=visitor,
        )


def _more_url(q: str, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    return "/console/search/more?" + urlencode({"q": q, "cursor": cursor})


def _error(q: str, exc: Exception) -> dict[str, Any]:
    """A query mistake with the line it is on and a caret under its column."""
    if not isinstance(exc, QueryError) or not exc.column:
        return {"message": str(exc)}
    lines = q.split("\n")
    line = lines[exc.line - 1] if 0 < exc.line <= len(lines) else ""
    return {
        "message": exc.message,
        "line": exc.line,
        "column": exc.column,
        "text": line,
        "caret": " " * (exc.column - 1) + "^",
    }


def _table(columns: tuple[str, ...], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A table's cells as text, and the column to draw as bars (``_count``, else the last
    column holding numbers only)."""
    chart = None
    for name in ("_count", *reversed(columns)):
        if (
            name in columns
            and rows
            and all(
                isinstance(r.get(name), int | float) and not isinstance(r.get(name), bool)
                for r in rows
            )
        ):
            chart = name
            break
    cells = [
        [
            "" if r.get(c) is None else r[c] if isinstance(r.get(c), str) else orjson.dumps(r[c]).decode()
            for c in columns
        ]
        for r in rows
    ]  # fmt: skip
    bars = []
    if chart is not None:
        top = max(float(r[chart]) for r in rows) or 1.0
        label_columns = [c for c in columns if c != chart]
        for r, row_cells in zip(rows, cells, strict=True):
            label = " · ".join(row_cells[columns.index(c)] for c in label_columns) or chart
            bars.append({"label": label, "value": r[chart], "max": top})
    return {"columns": columns, "rows": cells, "chart": chart, "bars": bars[:50]}


def routes(console: Console) -> list[BaseRoute]:
    page = SearchPage(console)
    return [
        guarded("/search", page.page, console),
        guarded("/search/more", page.more, console),
        guarded("/search/fields", page.fields, console),
        guarded("/search/event/{partition}/{offset}", page.event, console),
        # The session cookie is sent to /console only: the page reaches the search API here.
        *search_views.routes(console.runtime),
    ]
