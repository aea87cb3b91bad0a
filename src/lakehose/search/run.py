"""The one way to run a search, for the CLI and the server: readers in, rows out, readers closed."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from lakehose.query.plan import Plan
from lakehose.query.timerange import TimeRange
from lakehose.search.engine import Search
from lakehose.storage.base import LogReader

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
) -> tuple[Search, Iterator[dict[str, Any]]]:
    """A search over the readers ``open_readers()`` gives, and its rows as they are found.

    The readers belong to the search: they are closed when the rows run out, when the
    iterator is closed, or at once if the search cannot start.
    """
    readers = open_readers()
    try:
        search = Search(
            plan,
            readers,
            span,
            limit=limit,
            cursor=cursor,
            time_limit=time_limit,
            cursor_key=cursor_key,
        )
    except BaseException:
        _close(readers)
        raise

    def rows() -> Iterator[dict[str, Any]]:
        try:
            yield from search.rows()
        finally:
            _close(readers)

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
    )
    return list(rows), search
