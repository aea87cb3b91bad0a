"""New events that match a query, from where a reader left off: the live tail.

A tail remembers, per partition, the offset it has read up to. Each
:meth:`Tail.poll` runs the query's leading filter over the batches written since
(their summaries bound the scan from below, so a filter that rarely matches
still reads only the new batches) and returns the matches oldest first. The
time range is not applied: a tail shows what arrives, whatever time it carries.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from lakehose.query.plan import Plan
from lakehose.query.timerange import TimeRange
from lakehose.search.engine import Search
from lakehose.search.histogram import filter_plan
from lakehose.storage.base import Buckets, LogReader, Summary, TagChoices
from lakehose.storage.lake import Where, open_readers

MAX_POLL = 1000  # matches returned by one poll; older ones of a burst are skipped


class _FromReader:
    """A reader that offers only batches holding offsets at or past ``low``."""

    low = 0

    def __init__(self, reader: LogReader) -> None:
        self._reader = reader
        self.partition = reader.partition

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reader, name)

    def summaries(
        self,
        span: TimeRange,
        tag_choices: TagChoices,
        *,
        descending: bool,
        below: int | None = None,
        from_offset: int | None = None,
        straddling: Buckets | None = None,
    ) -> Iterator[Summary]:
        low = self.low if from_offset is None else max(from_offset, self.low)
        return self._reader.summaries(
            span, tag_choices, descending=descending, below=below, from_offset=low,
            straddling=straddling,
        )  # fmt: skip


class Tail:
    """Follows one query across the partitions of a data directory."""

    def __init__(self, plan: Plan, data_dir: Where, partitions: int) -> None:
        self.plan = filter_plan(plan)
        self.readers = [_FromReader(r) for r in open_readers(data_dir, partitions)]
        self.positions = {r.partition: r.bounds()[1] for r in self.readers}
        self.skipped = 0  # matches left out because a poll found more than MAX_POLL

    def resume_after(self, partition: int, offset: int) -> None:
        """Start after ``offset`` of ``partition`` instead of at its end (a reconnecting
        client's last event), so nothing that arrived in between is missed."""
        if partition in self.positions and offset + 1 < self.positions[partition]:
            self.positions[partition] = offset + 1

    def close(self) -> None:
        for reader in self.readers:
            reader.close()

    def poll(self, limit: int = MAX_POLL) -> list[dict[str, Any]]:
        """The matching events written since the last poll, oldest first."""
        ends = {r.partition: r.bounds()[1] for r in self.readers}
        fresh = [r for r in self.readers if ends[r.partition] > self.positions[r.partition]]
        if not fresh:
            return []
        for reader in fresh:
            reader.low = self.positions[reader.partition]
        search = Search(self.plan, fresh, TimeRange(), limit=limit)
        rows = [
            row
            for row in search.rows()
            if row["offset"] >= self.positions[row["partition"]]
            and row["offset"] < ends[row["partition"]]
        ]
        if search.next_cursor is not None:
            self.skipped += 1
        self.positions.update(ends)
        rows.reverse()
        return rows
