"""One partition of the embedded event log: a SQLite database of record batches.

Theory of operation
-------------------
A partition is ``partition-<p>.db`` (WAL mode) plus ``partition-<p>.lock``. Every
worker process has its own writer connection; the *sequencer* is an exclusive
``flock`` on the lock file, held from ``BEGIN IMMEDIATE`` to ``COMMIT``. Inside
that window the writer reads ``state.next_offset``, assigns dense offsets to the
rows it inserts, and advances ``next_offset`` in the same transaction, so offsets
are dense, never reused, and survive restarts whichever process wrote them.
(``flock`` hands the lock over the moment it is released; SQLite's own busy
handler would sleep 1, 2, 5, 10 ms... between tries.)

``COMMIT`` with ``synchronous=FULL`` fsyncs the WAL, so once :meth:`append`
returns the batch is on disk; a torn tail of the WAL fails SQLite's frame
checksums and is ignored on recovery, which is safe because nothing in it was
acknowledged. ``durability="none"`` (benchmarks only) skips the fsync.

Batch metadata (``batches``) and blobs (``batch_data``) live in separate tables
so that planning a search or a seek reads small rows only. Retention deletes the
oldest batches and moves ``state.start_offset``; ``next_offset`` never moves back.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from lakehose.errors import StorageError, StorageFullError
from lakehose.models import AppendResult, BatchInfo, Slice
from lakehose.query.timerange import TimeRange
from lakehose.records import compress_lines
from lakehose.storage import migrations
from lakehose.storage.base import (
    BucketCount,
    Buckets,
    PendingAppend,
    Summary,
    TagChoices,
    TagGroup,
)
from lakehose.storage.sqlite import summaries as summary_sql
from lakehose.storage.sqlite.connection import connect, connect_readonly

log = logging.getLogger(__name__)

MAX_ROW_EVENTS = 2000
MAX_ROW_BYTES = 1024 * 1024
_SQLITE_FULL = 13

_BATCH_COLUMNS = (
    "first_offset, count, min_time, max_time, ingest_time, connector, idx, sourcetype, "
    "raw_bytes, stored_bytes"
)


def _is_full(exc: sqlite3.Error) -> bool:
    return getattr(exc, "sqlite_errorcode", None) == _SQLITE_FULL or "disk is full" in str(exc)


def partition_path(data_dir: Path, partition: int) -> Path:
    return data_dir / f"partition-{partition}.db"


def create_partition(data_dir: Path, partition: int) -> None:
    """Create (or migrate) a partition's database; safe to call from several processes."""
    path = partition_path(data_dir, partition)
    with open(path.with_suffix(".lock"), "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            if not conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone():
                conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
            conn.execute("PRAGMA journal_mode = WAL")
            migrations.apply(conn, migrations.PARTITION_MIGRATIONS)
        finally:
            conn.close()


class PartitionWriter:
    """Appends record batches to one partition. Use from one thread only."""

    def __init__(
        self,
        data_dir: Path,
        partition: int,
        *,
        durability: str,
        zstd_level: int,
        clock: Callable[[], int] = time.time_ns,
    ):
        self.partition = partition
        self.clock = clock  # ns; the sandbox may shift it (see server/sandbox.py)
        self.path = partition_path(data_dir, partition)
        self.zstd_level = zstd_level
        self._conn = connect(self.path, durability=durability)
        self._lock_fd = os.open(self.path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)

    def close(self) -> None:
        self._conn.close()
        os.close(self._lock_fd)

    @contextmanager
    def _sequenced(self) -> Iterator[sqlite3.Connection]:
        """A write transaction under the partition's sequencer lock (see the module doc)."""
        conn = self._conn
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _rows(
        self, pending: Sequence[PendingAppend]
    ) -> tuple[list[tuple[Slice, bytes]], list[int]]:
        """Merge adjacent slices with the same tags into rows; compress each row.

        Returns the rows and, per pending request, its event count.
        """
        rows: list[tuple[Slice, bytes]] = []
        current: Slice | None = None

        def flush() -> None:
            if current is not None and current.lines:
                rows.append((current, compress_lines(current.lines, self.zstd_level)))

        for item in pending:
            for sl in item.slices:
                for start in range(0, len(sl.lines), MAX_ROW_EVENTS):
                    part = sl.lines[start : start + MAX_ROW_EVENTS]
                    if (
                        current is None
                        or current.key != sl.key
                        or len(current) + len(part) > MAX_ROW_EVENTS
                        or current.nbytes > MAX_ROW_BYTES
                    ):
                        flush()
                        current = Slice(sl.connector, sl.index, sl.sourcetype)
                        current.min_time, current.max_time = sl.min_time, sl.max_time
                    else:
                        current.min_time = min(current.min_time, sl.min_time)
                        current.max_time = max(current.max_time, sl.max_time)
                    current.lines.extend(part)
                    current.nbytes += sum(len(x) + 1 for x in part)
        flush()
        return rows, [item.count for item in pending]

    def append(self, pending: Sequence[PendingAppend]) -> list[AppendResult]:
        """Store every pending request in one transaction; return where each landed.

        Blocks until the transaction is durable (per the durability setting).
        Raises :class:`StorageFullError` when the disk is full; nothing is stored then.
        """
        rows, counts = self._rows(pending)
        try:
            with self._sequenced() as conn:
                # Ingest times never go back within a partition, so a time maps to an
                # offset by one index lookup (``start=time:``), as Kafka's time index.
                last = conn.execute("SELECT max(ingest_time) FROM batches").fetchone()[0]
                now = max(self.clock(), last or 0)
                next_offset, stored = conn.execute(
                    "SELECT next_offset, stored_bytes FROM state WHERE id = 0"
                ).fetchone()
                base = next_offset
                totals: dict[str, list[int]] = {}
                batch_rows = []
                data_rows = []
                for sl, blob in rows:
                    batch_rows.append(
                        (
                            next_offset,
                            len(sl.lines),
                            sl.min_time,
                            sl.max_time,
                            now,
                            sl.connector,
                            sl.index,
                            sl.sourcetype,
                            sl.nbytes,
                            len(blob),
                        )
                    )
                    data_rows.append((next_offset, blob))
                    t = totals.setdefault(sl.connector, [0, 0])
                    t[0] += len(sl.lines)
                    t[1] += sl.nbytes
                    next_offset += len(sl.lines)
                    stored += len(blob)
                conn.executemany(
                    f"INSERT INTO batches ({_BATCH_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    batch_rows,
                )
                conn.executemany(
                    "INSERT INTO batch_data (first_offset, data) VALUES (?, ?)", data_rows
                )
                conn.execute(
                    "UPDATE state SET next_offset = ?, stored_bytes = ? WHERE id = 0",
                    (next_offset, stored),
                )
                conn.executemany(
                    "INSERT INTO connector_totals (connector, events, bytes, last_event_time) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (connector) DO UPDATE SET "
                    "events = events + excluded.events, bytes = bytes + excluded.bytes, "
                    "last_event_time = excluded.last_event_time",
                    [(c, e, b, now) for c, (e, b) in totals.items()],
                )
                results = []
                offset = base
                for item, count in zip(pending, counts, strict=True):
                    ack_id = None
                    if item.ack_channel is not None:
                        ack_id = self._issue_ack(item.ack_channel, now)
                    results.append(AppendResult(self.partition, offset, count, ack_id))
                    offset += count
        except sqlite3.Error as exc:
            if _is_full(exc):
                raise StorageFullError(str(self.path.parent)) from exc
            raise StorageError(f"append to partition {self.partition} failed: {exc}") from exc
        return results

    def _issue_ack(self, channel: str, now: int) -> int:
        (ack_id,) = self._conn.execute(
            "INSERT INTO ack_channels (channel, next_id, last_used) VALUES (?, 1, ?) "
            "ON CONFLICT (channel) DO UPDATE SET next_id = next_id + 1, last_used = excluded.last_used "
            "RETURNING next_id - 1",
            (channel, now),
        ).fetchone()
        self._conn.execute(
            "INSERT INTO pending_acks (channel, ack_id, created) VALUES (?, ?, ?)",
            (channel, ack_id, now),
        )
        return int(ack_id)

    def query_acks(self, channel: str, ack_ids: Sequence[int]) -> set[int]:
        """The ids among ``ack_ids`` issued on ``channel`` and not yet reported; forget them."""
        if not ack_ids:
            return set()
        found: set[int] = set()
        with self._sequenced() as conn:
            for start in range(0, len(ack_ids), 500):
                chunk = list(ack_ids[start : start + 500])
                marks = ",".join("?" * len(chunk))
                found.update(
                    row[0]
                    for row in conn.execute(
                        f"DELETE FROM pending_acks WHERE channel = ? AND ack_id IN ({marks}) "
                        "RETURNING ack_id",
                        (channel, *chunk),
                    )
                )
        return found

    def apply_retention(
        self, max_age: float | None, max_bytes: int | None, ack_age: float = 7 * 86400
    ) -> int:
        """Delete the oldest batches beyond the age or size limit; return events dropped."""
        now = time.time_ns()
        dropped = 0
        with self._sequenced() as conn:
            cut = None
            if max_age is not None:
                row = conn.execute(
                    "SELECT max(first_offset + count) FROM batches WHERE ingest_time < ?",
                    (now - int(max_age * 1e9),),
                ).fetchone()
                cut = row[0]
            next_offset, stored = conn.execute(
                "SELECT next_offset, stored_bytes FROM state WHERE id = 0"
            ).fetchone()
            if max_bytes is not None and stored > max_bytes:
                excess = stored - max_bytes
                acc = 0
                for first, count, size in conn.execute(
                    "SELECT first_offset, count, stored_bytes FROM batches ORDER BY first_offset"
                ):
                    acc += size
                    if acc >= excess:
                        cut = max(cut or 0, first + count)
                        break
            if cut:
                dropped_row = conn.execute(
                    "SELECT coalesce(sum(count), 0), coalesce(sum(stored_bytes), 0) "
                    "FROM batches WHERE first_offset < ?",
                    (cut,),
                ).fetchone()
                dropped, freed = int(dropped_row[0]), int(dropped_row[1])
                conn.execute("DELETE FROM batches WHERE first_offset < ?", (cut,))
                conn.execute("DELETE FROM batch_data WHERE first_offset < ?", (cut,))
                first = conn.execute("SELECT min(first_offset) FROM batches").fetchone()[0]
                conn.execute(
                    "UPDATE state SET start_offset = ?, stored_bytes = ? WHERE id = 0",
                    (first if first is not None else next_offset, stored - freed),
                )
            conn.execute("DELETE FROM pending_acks WHERE created < ?", (now - int(ack_age * 1e9),))
        if dropped:
            self._conn.execute("PRAGMA incremental_vacuum")
            log.info("retention dropped %d events from partition %d", dropped, self.partition)
        return dropped


class PartitionReader:
    """Reads one partition. Cheap to create; use from one thread at a time."""

    def __init__(self, data_dir: Path, partition: int, *, readonly: bool = False):
        self.partition = partition
        path = partition_path(data_dir, partition)
        self._key = str(path)
        self._conn = connect_readonly(path) if readonly else connect(path)
        self._conn.execute("PRAGMA query_only = ON")

    def close(self) -> None:
        self._conn.close()

    def bounds(self) -> tuple[int, int]:
        """``(start_offset, end_offset)``: the oldest kept offset and the next one to be written."""
        start, end = self._conn.execute(
            "SELECT start_offset, next_offset FROM state WHERE id = 0"
        ).fetchone()
        return int(start), int(end)

    def _info(self, row: tuple[int, int, int, int, int, str, str, str, int, int]) -> BatchInfo:
        return BatchInfo(self.partition, *row)

    def batches_from(self, offset: int, limit: int) -> list[tuple[BatchInfo, bytes]]:
        """Up to ``limit`` batches holding offsets >= ``offset``, in order, with their blobs."""
        rows = self._conn.execute(
            f"SELECT {', '.join('b.' + c.strip() for c in _BATCH_COLUMNS.split(','))}, d.data "
            "FROM batches b JOIN batch_data d ON d.first_offset = b.first_offset "
            "WHERE b.first_offset >= coalesce((SELECT max(first_offset) FROM batches "
            "WHERE first_offset <= ?), ?) ORDER BY b.first_offset LIMIT ?",
            (offset, offset, limit),
        ).fetchall()
        out = []
        for row in rows:
            info = self._info(row[:10])
            if info.end_offset > offset:
                out.append((info, row[10]))
        return out

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
        """Summaries of batches that may hold matching events, in offset order."""
        return summary_sql.summaries(
            self._conn, self.partition, span, tag_choices, descending=descending,
            below=below, from_offset=from_offset, straddling=straddling,
            narrow=summary_sql.narrow_end(self._conn, self._key, span),
        )  # fmt: skip

    def tag_groups(self, span: TimeRange, tag_choices: TagChoices) -> list[TagGroup]:
        """Per tag combination: batches, earliest and latest event time."""
        return summary_sql.tag_groups(self._conn, span, tag_choices)

    def bucket_counts(
        self, span: TimeRange, tag_choices: TagChoices, buckets: Buckets
    ) -> list[BucketCount]:
        """Per tag combination and bucket: events and batches of the batches it holds."""
        return summary_sql.bucket_counts(self._conn, span, tag_choices, buckets)

    def blob_range(self, low: int, high: int) -> Iterator[tuple[int, bytes]]:
        """``(first offset, blob)`` of the batches whose first offset is in ``[low, high)``."""
        # INTEGER and BLOB columns come back as int and bytes.
        rows: Iterator[tuple[int, bytes]] = self._conn.execute(
            "SELECT first_offset, data FROM batch_data WHERE first_offset >= ? AND first_offset < ?",
            (low, high),
        )
        return rows

    def blobs(self, first_offsets: Sequence[int]) -> dict[int, bytes]:
        """``first offset -> blob`` of the named batches (those still kept)."""
        marks = ",".join("?" * len(first_offsets))
        return {
            int(row[0]): bytes(row[1])
            for row in self._conn.execute(
                f"SELECT first_offset, data FROM batch_data WHERE first_offset IN ({marks})",
                list(first_offsets),
            )
        }

    def connector_totals(self) -> dict[str, tuple[int, int, int]]:
        """Per connector: ``(events, bytes, last_event_time_ns)`` ever accepted."""
        return {
            row[0]: (int(row[1]), int(row[2]), int(row[3]))
            for row in self._conn.execute(
                "SELECT connector, events, bytes, last_event_time FROM connector_totals"
            )
        }

    # what the console shows (batch summaries only) -----------------------------------------

    def ingest_counts(self, since_ns: int, width_ns: int) -> list[tuple[str, int, int]]:
        """``(connector, bucket, events)`` accepted since ``since_ns``, in ``width_ns`` buckets."""
        return [
            (str(c), int(b), int(n))
            for c, b, n in self._conn.execute(
                "SELECT connector, (ingest_time - ?) / ?, sum(count) FROM batches "
                "WHERE ingest_time >= ? GROUP BY 1, 2",
                (since_ns, width_ns, since_ns),
            )
        ]

    def events_since(self, since_ns: int) -> int:
        """Events accepted at or after ``since_ns``."""
        row = self._conn.execute(
            "SELECT coalesce(sum(count), 0) FROM batches WHERE ingest_time >= ?", (since_ns,)
        ).fetchone()
        return int(row[0])

    def stored_bytes(self) -> int:
        """Compressed bytes of the batches kept."""
        return int(self._conn.execute("SELECT stored_bytes FROM state WHERE id = 0").fetchone()[0])

    def oldest_ingest_time(self) -> int | None:
        row = self._conn.execute(
            "SELECT ingest_time FROM batches ORDER BY first_offset LIMIT 1"
        ).fetchone()
        return None if row is None else int(row[0])

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
