"""The one way to run a search, for the CLI and the server: readers in, rows out, readers closed."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from lakehose.errors import StorageError
from lakehose.query.plan import Plan
from lakehose.query.timerange import TimeRange
from lakehose.search.engine import Search
from lakehose.search.tiers import Older, split
from lakehose.storage.base import LogReader
from lakehose.storage.columnar.tier import ColumnarTier

DEFAULT_LIMIT = 200
MAX_LIMIT = 10_000


def _close(readers: Sequence[LogReader]) -> None:
    for reader in readers:
        reader.close()


def start_search(
    open_readers: Callable[[], Sequence[LogReader]],
    plan: Plan,
    span: TimeRange,
    *,
    limit: int | None = DEFAULT_LIMIT,
    cursor: str | None = None,
    time_limit: float | None = None,
    cursor_key: bytes = b"",
    columnar: Callable[[], ColumnarTier | None] | None = None,
) -> tuple[Search, Iterator[dict[str, Any]]]:
    """A search over the readers ``open_readers()`` gives, and its rows as they are found.

    With ``columnar`` (the data directory's columnar tier, if any), an aggregate runs on
    both tiers (``search/tiers.py``). The readers belong to the search: they are closed
    when the rows run out, when the iterator is closed, or at once if it cannot start.
    """
    started = time.monotonic()  # search_timeout counts from here, the SQL's time included
    readers = open_readers()
    tier: ColumnarTier | None = None
    older: Older | None = None
    both = None
    shown: Sequence[LogReader] = readers

    def done() -> None:
        _close(readers)
        if tier is not None:
            tier.close()

    def row_search() -> Search:
        return Search(
            plan,
            readers,
            span,
            limit=limit,
            cursor=cursor,
            time_limit=time_limit,
            cursor_key=cursor_key,
        )

    try:
        if columnar is not None and cursor is None:
            tier = columnar()
            if tier is not None:
                deadline = None if time_limit is None else started + time_limit
                try:
                    both = split(
                        plan, span, readers, tier, deadline=deadline, time_limit=time_limit or 0.0
                    )
                except StorageError:
                    both = None  # a file went away (retention): the row log has it all
                if both is not None:
                    shown, older = both.readers, both.older
        search = Search(
            plan,
            shown,
            span,
            limit=limit,
            cursor=cursor,
            time_limit=time_limit,
            cursor_key=cursor_key,
            older=older,
        )
        search.started = started
        if both is not None:
            search.stats.columnar_files = both.files
            search.stats.events_scanned += both.scanned
            search.stats.events_matched += both.matched
    except BaseException:
        done()
        raise

    def rows() -> Iterator[dict[str, Any]]:
        try:
            if older is None:
                yield from search.rows()
                return
            out = list(search.rows())
            if any(w.startswith("groupBy() kept") for w in search.stats.warnings):
                # Which groups are kept depends on the order rows come in: the row log's.
                again = row_search()
                out = list(again.rows())
                search.stats, search.truncated = again.stats, again.truncated
            yield from out
        finally:
            done()

    return search, rows()


def run_search(
    open_readers: Callable[[], Sequence[LogReader]],
    plan: Plan,
    span: TimeRange,
    *,
    limit: int | None = DEFAULT_LIMIT,
    cursor: str | None = None,
    time_limit: float | None = None,
    cursor_key: bytes = b"",
    columnar: Callable[[], ColumnarTier | None] | None = None,
) -> tuple[list[dict[str, Any]], Search]:
    """Run to completion (at most ``limit`` rows); the rows and the finished search."""
    search, rows = start_search(
        open_readers,
        plan,
        span,
        limit=limit,
        cursor=cursor,
        time_limit=time_limit,
        cursor_key=cursor_key,
        columnar=columnar,
    )
    return list(rows), search
