"""The disk queue at startup: its segments found from their names, a crashed open one sealed.

Only file names are read, and the one segment that was open when the process ended (to
find its last record and cut a torn tail, one record at a time), so memory stays bounded
however much is queued. Segments the cursor already covers are deleted.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from lakehose.collector.queue.segment import parse_name, scan, sealed_name

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Segment:
    """One segment file: records ``first .. last`` (``last < first`` while empty),
    ``size`` durable bytes."""

    first: int
    last: int
    size: int
    path: Path
    sealed: bool

    def count_above(self, seq: int) -> int:
        return max(0, self.last - max(self.first - 1, seq))


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def recover(directory: Path, committed: int, name: str) -> list[Segment]:
    """The segments of ``directory`` holding records above ``committed``, in order, all
    sealed; leftover temporary files and fully delivered segments are deleted."""
    segments: list[Segment] = []
    for path in sorted(directory.iterdir()):
        parsed = parse_name(path.name)
        if parsed is None:
            if path.name.endswith(".tmp"):
                path.unlink(missing_ok=True)
            continue
        first, last = parsed
        size = path.stat().st_size
        if last is None:
            segment = _seal_crashed(path, first, size, name)
            if segment is None:
                continue
        else:
            segment = Segment(first, last, size, path, True)
        if segment.last <= committed:
            segment.path.unlink(missing_ok=True)  # a crashed open one was renamed sealed
            continue
        segments.append(segment)
    segments.sort(key=lambda s: s.first)
    return segments


def _seal_crashed(path: Path, first: int, size: int, name: str) -> Segment | None:
    """Seal a segment left open by a crash; cut a torn last record (never fsynced, so
    no receipt covered it)."""
    last, good_end, _, skips = scan(path, size)
    if skips and skips[-1].end == size and skips[-1].start == good_end:
        log.warning(
            "disk queue %s: cut %d bytes of a record torn by a crash at the end of %s",
            name,
            size - good_end,
            path.name,
        )
        with open(path, "r+b") as f:
            f.truncate(good_end)
            os.fsync(f.fileno())
        size = good_end
    if last is None:
        path.unlink()
        return None
    sealed = path.with_name(sealed_name(first, last))
    os.replace(path, sealed)
    fsync_dir(path.parent)
    return Segment(first, last, size, sealed, True)
