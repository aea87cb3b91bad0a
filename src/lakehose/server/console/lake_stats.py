"""Numbers the console shows about the lake: events per connector over time, rates, disk use.

Everything comes from the record-batch summaries (one row per batch, with its
ingest time, connector and event count) through the ``batches_ingest_time``
index, so a day of a busy lake costs one index range scan per partition, never
reading an event.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lakehose.storage.base import LogReader
from lakehose.storage.catalog.base import Catalog
from lakehose.storage.lake import open_console_views

DAY = 86400
BUCKETS = 24  # sparkline points over the last day: one an hour


@dataclass(slots=True)
class Activity:
    """A connector's events over a span of time, in equal buckets (oldest first)."""

    buckets: list[int] = field(default_factory=lambda: [0] * BUCKETS)

    @property
    def total(self) -> int:
        return sum(self.buckets)


def activity(
    readers: Iterable[LogReader],
    now: float | None = None,
    span: float = DAY,
    buckets: int = BUCKETS,
) -> dict[str, Activity]:
    """Events accepted per connector over the last ``span`` seconds, bucketed by ingest time."""
    now = time.time() if now is None else now
    start = int((now - span) * 1e9)
    width = int(span * 1e9) // buckets
    out: dict[str, Activity] = {}
    for reader in readers:
        rows = reader.ingest_counts(start, width)
        for connector, bucket, count in rows:
            slot = min(buckets - 1, max(0, int(bucket)))
            out.setdefault(connector, Activity([0] * buckets)).buckets[slot] += int(count)
    return out


def events_since(readers: Iterable[LogReader], seconds: float) -> int:
    """Events accepted in the last ``seconds`` (all connectors, all partitions)."""
    since = int((time.time() - seconds) * 1e9)
    total = 0
    for reader in readers:
        total += reader.events_since(since)
    return total


@dataclass(frozen=True, slots=True)
class PartitionUse:
    partition: int
    start_offset: int
    end_offset: int
    stored_bytes: int
    file_bytes: int
    oldest_ingest_ns: int | None


def partition_use(readers: Mapping[int, LogReader], data_dir: Path) -> list[PartitionUse]:
    out = []
    for p, reader in sorted(readers.items()):
        start, end = reader.bounds()
        stored = reader.stored_bytes()
        oldest = reader.oldest_ingest_time()
        files = sum(
            path.stat().st_size for path in data_dir.glob(f"partition-{p}.db*") if path.is_file()
        )
        out.append(PartitionUse(p, start, end, stored, files, oldest))
    return out


@dataclass(frozen=True, slots=True)
class DiskUse:
    data_bytes: int
    free_bytes: int
    total_bytes: int

    @property
    def used_fraction(self) -> float:
        return 1 - self.free_bytes / self.total_bytes if self.total_bytes else 0.0


def disk_use(data_dir: Path) -> DiskUse:
    """Bytes of the data directory's files, and the free and total space of its disk."""
    data = 0
    for path in data_dir.rglob("*"):
        try:
            if path.is_file():
                data += path.stat().st_size
        except OSError:
            continue
    usage = shutil.disk_usage(data_dir)
    return DiskUse(data, usage.free, usage.total)


def refused_counts(catalog: Catalog, since: float) -> dict[str, int] | None:
    """Refused requests per connector id since ``since`` (None when no refusal ring exists)."""
    return open_console_views(catalog).refused_counts(since)


def sparkline_points(values: list[int], width: int = 120, height: int = 24) -> str:
    """An SVG polyline ``points`` attribute for ``values`` (scaled to the largest)."""
    if not values:
        return ""
    top = max(values) or 1
    step = width / max(1, len(values) - 1)
    return " ".join(
        f"{i * step:.1f},{height - 2 - (v / top) * (height - 4):.1f}" for i, v in enumerate(values)
    )
