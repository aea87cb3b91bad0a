"""``/api/v1/search/...``: what the search page shows beside the rows, as GET endpoints.

* ``histogram``: event counts over the whole time range in round buckets, with the total;
* ``fields``: top values of the fields of the newest matching events;
* ``events/{partition}/{offset}``: one event and the events stored around it;
* ``export`` and ``tail`` (``search_stream.py``): the whole result as NDJSON or CSV, and new
  matching events as server-sent events.

Each takes the query as ``q`` and the range as ``start`` and ``end`` (as ``POST
/api/v1/search`` does), and answers a bearer token holding ``search:read`` or a
signed-in console user (``search_access.py``). Scans run in a worker thread on
their own read connections, a few at a time per worker.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from lakehose.query import Plan, TimeRange, plan_query, time_range
from lakehose.search import facets
from lakehose.search.histogram import DEFAULT_BUCKETS, MAX_BUCKETS, histogram
from lakehose.search.neighbours import MAX_CONTEXT, around
from lakehose.server.replies.envelope import envelope
from lakehose.server.replies.errors import ApiError
from lakehose.server.runtime import Runtime
from lakehose.server.search_access import authorise
from lakehose.storage.base import LogReader
from lakehose.storage.lake import lake_address, open_columnar, open_reader, open_readers

CONCURRENT_SCANS = 4  # per worker process
T = TypeVar("T")


def whole_number(params: Any, name: str, default: int, low: int, high: int) -> int:
    """``name=N`` from a query string: ASCII digits within ``[low, high]``; absent: ``default``
    (an empty ``name=`` is no number, as the OpenAPI document says, and is refused)."""
    text = params.get(name)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or len(text) > 12 or not low <= int(text) <= high:
        raise ApiError(400, f"{name} must be a whole number from {low} to {high}")
    return int(text)


def query_and_range(request: Request) -> tuple[Plan, TimeRange]:
    """The ``q``, ``start`` and ``end`` parameters, parsed (QueryError names a mistake)."""
    params = request.query_params
    return plan_query(params.get("q", "")), time_range(params.get("start"), params.get("end"))


class SearchViews:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self._slots = asyncio.Semaphore(CONCURRENT_SCANS)

    async def scan(self, work: Callable[[list[LogReader]], T]) -> T:
        """Run ``work`` over fresh readers of every partition, in a thread."""
        settings = self.rt.settings

        def run() -> T:
            readers = open_readers(lake_address(settings), settings.partitions)
            try:
                return work(readers)
            finally:
                for reader in readers:
                    reader.close()

        async with self._slots:
            return await asyncio.to_thread(run)

    async def histogram(self, request: Request) -> Response:
        started = time.perf_counter()
        authorise(request, self.rt)
        plan, span = query_and_range(request)
        buckets = whole_number(request.query_params, "buckets", DEFAULT_BUCKETS, 1, MAX_BUCKETS)
        settings = self.rt.settings
        result = await self.scan(
            lambda readers: histogram(
                plan,
                readers,
                span,
                buckets=buckets,
                time_limit=settings.search_timeout,
                columnar=lambda: open_columnar(lake_address(settings)),
            )
        )
        return envelope([result.to_dict()], started=started)

    async def fields(self, request: Request) -> Response:
        started = time.perf_counter()
        authorise(request, self.rt)
        plan, span = query_and_range(request)
        params = request.query_params
        sample = whole_number(params, "sample", facets.DEFAULT_SAMPLE, 1, facets.MAX_SAMPLE)
        top = whole_number(params, "top", facets.DEFAULT_TOP, 1, 100)
        limit = self.rt.settings.search_timeout
        result = await self.scan(
            lambda readers: facets.top_values(
                plan, readers, span, sample=sample, top=top, time_limit=limit
            )
        )
        return envelope([result.to_dict()], started=started)

    async def event(self, request: Request) -> Response:
        started = time.perf_counter()
        authorise(request, self.rt)
        settings = self.rt.settings
        p_text, o_text = request.path_params["partition"], request.path_params["offset"]
        if not (p_text.isascii() and p_text.isdigit()) or int(p_text) >= settings.partitions:
            raise ApiError(404, f"no partition {p_text[:20]!r}")
        if not (o_text.isascii() and o_text.isdigit()) or len(o_text) > 18:
            raise ApiError(400, "offset must be a non-negative whole number")
        partition, offset = int(p_text), int(o_text)
        params = request.query_params
        before = whole_number(params, "before", 0, 0, MAX_CONTEXT)
        after = whole_number(params, "after", 0, 0, MAX_CONTEXT)

        def read() -> list[dict[str, Any]]:
            reader = open_reader(lake_address(settings), partition)
            try:
                return around(reader, offset, before, after)
            finally:
                reader.close()

        async with self._slots:
            events = await asyncio.to_thread(read)
        return envelope(
            events,
            started=started,
            extra_meta={"event": {"partition": partition, "offset": offset}},
        )


PATHS = (
    "/api/v1/search/histogram",
    "/api/v1/search/fields",
    "/api/v1/search/events/{partition}/{offset}",
    "/api/v1/search/export",
    "/api/v1/search/tail",
)


def routes(runtime: Runtime) -> list[BaseRoute]:
    """The routes of :data:`PATHS` (the console mounts them again under ``/console``)."""
    from lakehose.server.routes.search_stream import SearchStreams

    v = SearchViews(runtime)
    s = SearchStreams(runtime)
    handlers = (v.histogram, v.fields, v.event, s.export, s.tail)
    return [
        Route(path, handler, methods=["GET"]) for path, handler in zip(PATHS, handlers, strict=True)
    ]
