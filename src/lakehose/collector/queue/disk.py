"""The disk queue: records in checksummed segment files, fsynced before ``put`` returns.

Theory of operation. Writes go to one open segment, in rounds: every ``append`` waiting
when a round starts is written with one ``write`` and made durable with one
``fdatasync`` (group commit, on a worker thread), and only then do the futures of those
appends resolve (``append`` itself returns at once, so one source can keep several puts
in flight). A segment is sealed (renamed ``<first>-<last>.seg``) once it passes the
segment size, and deleted once the sink committed its last record. What the sink
committed is kept in the cursor (:mod:`cursor`); after a restart the queue hands out
again every record above it, so a crash repeats a tail, never loses one.

Startup (:mod:`recovery`) reads only file names, the cursor, and the segment that was
open: memory stays bounded however much is queued. A damaged record is skipped when
read, counted in ``corrupt`` and logged; the records after it are read as usual.

A write that fails (``ENOSPC``, ``EIO``) is cut back to the last durable byte with
``ftruncate``, logged, and tried again every second (after dropping the oldest segment
under ``deleteOldest``): their receipts wait (and, past ``MAX_PENDING`` bytes, their
puts), nothing half-written stays behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lakehose.collector.queue import Queue, QueuedBatch
from lakehose.collector.queue.cursor import Cursor
from lakehose.collector.queue.recovery import Segment, fsync_dir, recover
from lakehose.collector.queue.segment import (
    HEADER_SIZE,
    SegmentReader,
    encode_many,
    open_name,
    sealed_name,
)
from lakehose.collector.queue.signal import Signal
from lakehose.errors import DeliveryClosedError

log = logging.getLogger(__name__)

RETRY_WRITE = 1.0
MAX_PENDING = 16 << 20
"""Bytes put but not yet written that make ``append`` wait: memory stays bounded while
the disk is slow or full, whatever ``maxLimitInMB`` says."""
_NO_LAST = 2**63


@dataclass(slots=True)
class _Write:
    data: bytes
    first: int
    last: int
    done: asyncio.Future[None]


class DiskQueue(Queue):
    durable = True

    def __init__(
        self,
        directory: Path,
        limit: int,
        full_action: Literal["pause", "deleteOldest"],
        name: str,
        segment_bytes: int | None = None,
    ) -> None:
        self.directory = directory
        self.limit = limit
        self.full_action = full_action
        self.name = name
        self.segment_bytes = segment_bytes or min(64 << 20, max(64 << 10, limit // 8))
        directory.mkdir(parents=True, exist_ok=True)
        self._cursor = Cursor(directory, name)
        self._committed = self._cursor.read()
        self._corrupt = 0
        self._dropped = 0
        self._write_errors = 0
        self._segments: list[Segment] = recover(directory, self._committed, name)
        known = max([s.last for s in self._segments] + [self._committed])
        self._next = known + 1
        self._durable_last = known
        self._handed = self._committed
        self._reader: SegmentReader | None = None
        self._rseg: Segment | None = None
        self._roffset = 0
        self._expect = 0
        self._active: Segment | None = None
        self._fd: int | None = None
        self._pending: list[_Write] = []
        self._pending_bytes = 0
        self._writer: asyncio.Task[None] | None = None
        self._closed = False
        self._hurry = False
        self._arrived = Signal()
        self._room = Signal()
        self._flushed = Signal()
        self._waiting_since: float | None = 0.0 if known > self._committed else None
        self._written = sum(s.size for s in self._segments)
        self._consumed = 0
        if self._segments:
            log.info(
                "disk queue %s: %d events in %d segments to deliver from %s",
                name,
                sum(s.count_above(self._committed) for s in self._segments),
                len(self._segments),
                directory,
            )

    # writing -------------------------------------------------------------------------------

    async def append(self, lines: Sequence[bytes]) -> tuple[int, asyncio.Future[None] | None]:
        if self._closed:
            raise DeliveryClosedError(self.name)
        if not lines:
            return self._next - 1, None
        size = sum(map(len, lines)) + HEADER_SIZE * len(lines)
        while self._total() + size > self.limit and self._undelivered() and not self._closed:
            if self.full_action == "deleteOldest":
                if not self._drop_oldest():
                    break
            else:
                await self._room.wait(1.0)
        while self._pending_bytes >= MAX_PENDING and not self._closed:  # a slow or failing disk
            await self._flushed.wait(1.0)
        if self._closed:  # closed while this put waited: nothing may be written after aclose
            raise DeliveryClosedError(self.name)
        first = self._next
        self._next += len(lines)
        data = encode_many(first, lines)
        write = _Write(data, first, self._next - 1, asyncio.get_running_loop().create_future())
        self._pending.append(write)
        self._pending_bytes += len(data)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_rounds(), name=f"queue {self.name}")
        return write.last, write.done

    def _total(self) -> int:
        return sum(s.size for s in self._segments) + self._pending_bytes

    def _undelivered(self) -> bool:
        return self._next - 1 > self._committed

    async def _write_rounds(self) -> None:
        while self._pending:
            writes, self._pending = self._pending, []
            data = b"".join(w.data for w in writes)
            try:
                await self._write_round(data, writes[0].first, writes[-1].last)
            except DeliveryClosedError as exc:
                for w in writes + self._pending:
                    if not w.done.done():
                        w.done.set_exception(exc)
                self._pending = []
                self._pending_bytes = 0
                return
            self._pending_bytes -= len(data)
            self._flushed.fire()
            for w in writes:
                if not w.done.done():
                    w.done.set_result(None)

    async def _write_round(self, data: bytes, first: int, last: int) -> None:
        failures = 0
        logged = 0.0
        while True:
            try:
                active = self._active
                if active is None or (
                    active.size > 0 and active.size + len(data) > self.segment_bytes
                ):
                    self._roll(first)
                await asyncio.to_thread(self._append, data)
                break
            except OSError as exc:
                self._write_errors += 1
                failures += 1
                now = time.monotonic()
                if now - logged > 30:
                    logged = now
                    log.error(
                        "disk queue %s: cannot write %d bytes to %s: %s; nothing partial was "
                        "kept, the events stay unconfirmed (sources keep their checkpoints), "
                        "retrying every %g s",
                        self.name,
                        len(data),
                        self.directory,
                        exc.strerror or exc,
                        RETRY_WRITE,
                    )
                if self._closed:
                    raise DeliveryClosedError(self.name) from exc
                if not (self.full_action == "deleteOldest" and self._drop_oldest()):
                    await self._room.wait(RETRY_WRITE)
        assert self._active is not None
        self._active.size += len(data)
        self._active.last = last
        self._durable_last = last
        self._written += len(data)
        if failures:
            log.warning("disk queue %s: written after %d failed tries", self.name, failures)
        if self._waiting_since is None:
            self._waiting_since = time.monotonic()
        self._arrived.fire()

    def _roll(self, first: int) -> None:
        """Seal the open segment and start ``<first>.open`` (on the event loop: once per
        segment, and it keeps the segment list to one thread)."""
        old = self._active
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if old is not None:
            if old.size == 0:
                old.path.unlink(missing_ok=True)
                self._segments.remove(old)
            else:
                sealed = old.path.with_name(sealed_name(old.first, old.last))
                os.replace(old.path, sealed)
                old.path, old.sealed = sealed, True
            self._active = None
        path = self.directory / open_name(first)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        fsync_dir(self.directory)
        self._active = Segment(first, first - 1, 0, path, False)
        self._segments.append(self._active)

    def _append(self, data: bytes) -> None:
        """Write and fdatasync (worker thread); on failure cut back to the durable size."""
        assert self._fd is not None and self._active is not None
        start = self._active.size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
            os.fdatasync(self._fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, start)
            raise

    def _drop_oldest(self) -> bool:
        """deleteOldest: remove the oldest sealed segment nothing was handed out from."""
        for segment in self._segments:
            if segment.sealed and segment is not self._rseg and segment.first > self._handed:
                segment.path.unlink(missing_ok=True)
                self._segments.remove(segment)
                events = segment.last - segment.first + 1
                self._dropped += events
                self._consumed += segment.size
                log.warning(
                    "disk queue %s: full (%d bytes): dropped the %d oldest events (%d bytes, "
                    "segment %s); %d dropped so far",
                    self.name,
                    self.limit,
                    events,
                    segment.size,
                    segment.path.name,
                    self._dropped,
                )
                self._room.fire()
                return True
        return False

    # reading -------------------------------------------------------------------------------

    async def get(self, max_bytes: int, linger: float) -> QueuedBatch | None:
        while not self._closed:
            if self._durable_last > self._handed and self._waiting_since is not None:
                age = time.monotonic() - self._waiting_since
                waiting = self._written - self._consumed
                if self._hurry or age >= linger or waiting >= max_bytes:
                    batch = self._read(max_bytes)
                    if batch is not None:
                        return batch
                    continue
                await self._arrived.wait(linger - age)
            else:
                await self._arrived.wait()
        return None

    def _read(self, max_bytes: int) -> QueuedBatch | None:
        lines: list[bytes] = []
        seqs: list[int] = []
        size = 0
        start = self._handed
        while size < max_bytes:
            if self._rseg is None:
                segment = next((s for s in self._segments if s.last > self._handed), None)
                if segment is None:
                    break
                self._rseg, self._roffset, self._expect = segment, 0, segment.first
            segment = self._rseg
            if segment not in self._segments:  # sealed, delivered and deleted meanwhile
                if self._reader is not None:  # it read the last record: never the next one's
                    self._reader.close()
                    self._reader = None
                self._handed = max(self._handed, segment.last)
                self._rseg = None
                continue
            if self._reader is None:
                top = segment.last if segment.sealed else _NO_LAST
                self._reader = SegmentReader(segment.path, self._roffset, (segment.first, top))
            reader = self._reader
            found = reader.next(segment.size)
            self._consumed += reader.offset - self._roffset
            self._roffset = reader.offset
            if reader.skips:
                self._count_skips(reader, segment, found[0] if found else None)
            if found is None:
                # closed even at the end of the open segment: a file buffer must never
                # keep bytes read past the durable end (a failed write is cut and rewritten)
                reader.close()
                self._reader = None
                if not segment.sealed:
                    break
                self._rseg = None
                self._handed = max(self._handed, segment.last)
                continue
            seq, payload = found
            self._expect = seq + 1
            if seq <= self._handed:
                continue
            lines.append(payload)
            seqs.append(seq)
            size += len(payload)
            self._handed = seq
        if self._handed >= self._durable_last:
            self._waiting_since = None
        if self._handed == start:
            return None
        return QueuedBatch(lines, seqs, size, self._handed)

    def _count_skips(self, reader: SegmentReader, segment: Segment, found: int | None) -> None:
        if found is not None:
            lost = found - self._expect
        elif segment.sealed:
            lost = segment.last - self._expect + 1
        else:
            lost = 1
        lost = max(1, lost)
        self._corrupt += lost
        for skip in reader.skips:
            log.error(
                "disk queue %s: skipped damaged bytes %d..%d of %s (%d record(s) lost); "
                "%d skipped so far",
                self.name,
                skip.start,
                skip.end,
                segment.path.name,
                lost,
                self._corrupt,
            )
        reader.skips.clear()

    def commit(self, through: int) -> None:
        if through <= self._committed:
            return
        self._committed = through
        self._cursor.write(through)
        for segment in list(self._segments):
            if segment.sealed and segment.last <= through:
                segment.path.unlink(missing_ok=True)
                self._segments.remove(segment)
        self._room.fire()

    def settled(self) -> int:
        return self._committed

    def hurry(self) -> None:
        self._hurry = True
        self._arrived.fire()

    def stats(self) -> dict[str, int]:
        return {
            "queue_events": sum(s.count_above(self._committed) for s in self._segments),
            "queue_bytes": sum(s.size for s in self._segments),
            "dropped": self._dropped,
            "corrupt": self._corrupt,
            "queue_write_errors": self._write_errors,
        }

    async def aclose(self) -> None:
        self._closed = True
        self._arrived.fire()
        self._room.fire()
        self._flushed.fire()
        if self._writer is not None:
            with contextlib.suppress(Exception):
                await self._writer
        if self._reader is not None:
            self._reader.close()
        self._reader = self._rseg = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            active = self._active
            if active is not None and active.size == 0:
                active.path.unlink(missing_ok=True)
            elif active is not None:
                sealed = active.path.with_name(sealed_name(active.first, active.last))
                os.replace(active.path, sealed)
                active.path, active.sealed = sealed, True
            self._active = None
        self._cursor.write(self._committed)
        self._cursor.close()
