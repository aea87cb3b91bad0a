"""A partition reader with what stream extensions need: offsets by time, ingest times, summaries.

Every question is answered from the ``batches`` table (the batch summaries), never
by reading events: ``offset_for_time`` is one lookup in the ``ingest_time`` index
(ingest times never go back within a partition, see ``PartitionWriter.append``),
and a filtered feed reads summaries first and fetches only the blobs it needs.
"""

from __future__ import annotations

from collections.abc import Sequence

from lakehose.models import BatchInfo
from lakehose.storage.sqlite import _BATCH_COLUMNS, PartitionReader


class FeedReader(PartitionReader):
    """One partition, read by data feeds and the consumer-group API."""

    def offset_for_time(self, ns: int) -> int:
        """The first offset whose ingest time is >= ``ns`` (the end offset if there is none)."""
        row = self._conn.execute(
            "SELECT first_offset FROM batches WHERE ingest_time >= ? "
            "ORDER BY ingest_time, first_offset LIMIT 1",
            (ns,),
        ).fetchone()
        if row is None:
            return self.bounds()[1]
        return int(row[0])

    def ingest_time_at(self, offset: int) -> int | None:
        """When the event at ``offset`` was accepted (ns; its batch's time), None if not kept."""
        row = self._conn.execute(
            "SELECT ingest_time, first_offset + count FROM batches WHERE first_offset <= ? "
            "ORDER BY first_offset DESC LIMIT 1",
            (offset,),
        ).fetchone()
        if row is None or int(row[1]) <= offset:
            return None
        return int(row[0])

    def newest_ingest_time(self) -> int | None:
        row = self._conn.execute("SELECT max(ingest_time) FROM batches").fetchone()
        return None if row[0] is None else int(row[0])

    def oldest_ingest_time(self) -> int | None:
        row = self._conn.execute(
            "SELECT ingest_time FROM batches ORDER BY first_offset LIMIT 1"
        ).fetchone()
        return None if row is None else int(row[0])

    def summaries_from(self, offset: int, limit: int) -> list[BatchInfo]:
        """Up to ``limit`` batch summaries holding offsets >= ``offset``, in order (no blobs)."""
        rows = self._conn.execute(
            f"SELECT {_BATCH_COLUMNS} FROM batches "
            "WHERE first_offset >= coalesce((SELECT max(first_offset) FROM batches "
            "WHERE first_offset <= ?), ?) ORDER BY first_offset LIMIT ?",
            (offset, offset, limit),
        ).fetchall()
        return [info for info in map(self._info, rows) if info.end_offset > offset]

    def blobs_of(self, firsts: Sequence[int]) -> dict[int, bytes]:
        """The stored blobs of the batches starting at ``firsts`` (those still kept)."""
        if not firsts:
            return {}
        marks = ",".join("?" * len(firsts))
        return {
            int(f): d
            for f, d in self._conn.execute(
                f"SELECT first_offset, data FROM batch_data WHERE first_offset IN ({marks})",
                tuple(firsts),
            )
        }
