"""``POST /api/v1/search``: run a query over the lake, for a bearer token with ``search:read``.

Request body: ``{"query", "start", "end", "limit", "cursor"}`` (all optional;
an empty query lists events). Reply: the Falcon envelope with the rows in
``resources`` (whole events newest first, or the table an aggregate or
``table()`` makes), and in ``meta``: ``search`` (what kind of rows, their
columns, the resolved time range, how many events were scanned and matched,
milliseconds taken) and ``pagination`` (``next_cursor`` when an event list has
more: send it back, with the same query, for the next page).

A search runs in a child process of the worker (``search_pool.py``), so ingest
and streams on the same worker keep going while it scans, and ``search_timeout``
holds whatever the query does.
"""

from __future__ import annotations

import time

from msgspec import UnsetType
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from lakehose.auth import scopes
from lakehose.query import plan_query, time_range
from lakehose.search.run import DEFAULT_LIMIT, MAX_LIMIT
from lakehose.server.protocols.json_bodies import SearchRequest, decode
from lakehose.server.replies.envelope import NO_STORE, envelope
from lakehose.server.replies.errors import ApiError
from lakehose.server.routes.guards import require
from lakehose.server.runtime import Runtime
from lakehose.server.search_pool import SearchJob


def _limit(body: SearchRequest) -> int:
    limit = DEFAULT_LIMIT if isinstance(body.limit, UnsetType) else body.limit
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError(400, f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return limit


class SearchRoutes:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    async def search(self, request: Request) -> Response:
        started = time.perf_counter()
        require(request, self.rt, scopes.SEARCH_READ)
        body = decode(await request.body(), SearchRequest)
        query, cursor = body.query, body.cursor
        limit = _limit(body)
        plan = plan_query(query)
        span = time_range(body.start, body.end)
        job = SearchJob(query, span, limit, cursor, self.rt.settings.search_timeout)
        found = await self.rt.searches.run(job)
        return envelope(
            found.rows,
            started=started,
            headers=NO_STORE,
            extra_meta={
                "search": {
                    "kind": plan.kind,
                    "columns": list(plan.columns),
                    "start": found.span.start,
                    "end": found.span.end,
                    "truncated": found.truncated,
                    **found.stats,
                },
                "pagination": {"limit": limit, "next_cursor": found.next_cursor},
            },
        )


def routes(runtime: Runtime) -> list[BaseRoute]:
    r = SearchRoutes(runtime)
    return [Route("/api/v1/search", r.search, methods=["POST"])]
