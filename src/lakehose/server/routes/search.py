"""``POST /api/v1/search``: run a query over the lake, for a bearer token with ``search:read``.

Request body: ``{"query", "start", "end", "limit", "cursor"}`` (all optional;
an empty query lists events). Reply: the Falcon envelope with the rows in
``resources`` (whole events newest first, or the table an aggregate or
``table()`` makes), and in ``meta``: ``search`` (what kind of rows, their
columns, the resolved time range, how many events were scanned and matched,
milliseconds taken) and ``pagination`` (``next_cursor`` when an event list has
more: send it back, with the same query, for the next page).

A search runs in a worker thread on its own read connections, so ingest and
streams on the same worker keep going while it scans.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from lakehose.auth import scopes
from lakehose.query import Plan, TimeRange, plan_query, time_range
from lakehose.search.engine import Search
from lakehose.search.run import DEFAULT_LIMIT, MAX_LIMIT, run_search
from lakehose.server.protocols.body import json_body
from lakehose.server.replies.envelope import envelope
from lakehose.server.replies.errors import ApiError
from lakehose.server.routes.guards import require
from lakehose.server.runtime import Runtime

FIELDS = frozenset({"query", "start", "end", "limit", "cursor"})
CONCURRENT_SEARCHES = 4  # per worker process


def _limit(body: dict[str, Any]) -> int:
    limit = body.get("limit", DEFAULT_LIMIT)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ApiError(400, f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return limit


def _time(body: dict[str, Any], key: str) -> str | int | float | None:
    value = body.get(key)
    if value is None or (isinstance(value, str | int | float) and not isinstance(value, bool)):
        return value
    raise ApiError(400, f"{key} must be a string (15m, 24h, 2024-05-01T00:00:00Z) or epoch number")


class SearchRoutes:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self._slots = asyncio.Semaphore(CONCURRENT_SEARCHES)

    def _run(
        self, plan: Plan, span: TimeRange, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], Search]:
        return run_search(
            self.rt.log.open_readers,
            plan,
            span,
            limit=limit,
            cursor=cursor,
            time_limit=self.rt.settings.search_timeout,
        )

    async def search(self, request: Request) -> Response:
        started = time.perf_counter()
        require(request, self.rt, scopes.SEARCH_READ)
        body = await json_body(request)
        unknown = set(body) - FIELDS
        if unknown:
            raise ApiError(400, f"unknown field(s): {', '.join(sorted(unknown))}")
        query = body.get("query", "")
        if not isinstance(query, str):
            raise ApiError(400, "query must be a string")
        cursor = body.get("cursor")
        if cursor is not None and not isinstance(cursor, str):
            raise ApiError(400, "cursor must be a string")
        limit = _limit(body)
        plan = plan_query(query)
        span = time_range(_time(body, "start"), _time(body, "end"))
        async with self._slots:
            rows, search = await asyncio.to_thread(self._run, plan, span, limit, cursor)
        return envelope(
            rows,
            started=started,
            extra_meta={
                "search": {
                    "kind": plan.kind,
                    "columns": list(plan.columns),
                    "start": search.span.start,
                    "end": search.span.end,
                    "truncated": search.truncated,
                    **search.stats.to_dict(),
                },
                "pagination": {"limit": limit, "next_cursor": search.next_cursor},
            },
        )


def routes(runtime: Runtime) -> list[BaseRoute]:
    r = SearchRoutes(runtime)
    return [Route("/api/v1/search", r.search, methods=["POST"])]
