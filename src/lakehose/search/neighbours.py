"""One stored event by its position, and the events stored just before and after it.

An event's permalink is its ``(partition, offset)``; its context is the events
next to it in the same partition, in offset order (the order they were
accepted), whatever query found it.
"""

from __future__ import annotations

from typing import Any

from lakehose.errors import CorruptBatchError, NotFoundError
from lakehose.query.fields import TAGS
from lakehose.records import decompress_lines
from lakehose.search.decoding import BatchContext, full_event
from lakehose.storage.base import LogReader

MAX_CONTEXT = 1000


def around(reader: LogReader, offset: int, before: int, after: int) -> list[dict[str, Any]]:
    """The events at offsets ``[offset - before, offset + after]`` that are still kept.

    Raises NotFoundError when the event at ``offset`` is not (never written, or
    removed by retention).
    """
    low, high = max(0, offset - before), offset + after + 1
    out: list[dict[str, Any]] = []
    position = low
    while position < high:
        batches = reader.batches_from(position, 16)
        if not batches:
            break
        for info, blob in batches:
            if info.first_offset >= high:
                position = high
                break
            try:
                lines = decompress_lines(blob, info.partition, info.first_offset, info.count)
            except CorruptBatchError:
                lines = []
            batch = BatchContext(
                info.partition,
                info.first_offset,
                info.ingest_time,
                dict(zip(TAGS, (info.connector, info.index, info.sourcetype), strict=True)),
            )
            start = max(low, info.first_offset) - info.first_offset
            stop = min(high, info.end_offset) - info.first_offset
            for i in range(start, min(stop, len(lines))):
                out.append(full_event(lines[i], batch, i))
            position = info.end_offset
    if not any(e["offset"] == offset for e in out):
        raise NotFoundError("event", f"{reader.partition}:{offset}")
    return out
