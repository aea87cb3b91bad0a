"""A narrow time range reads a range of the max_time index (bounded by the widest batch)
instead of every batch summary, and still finds every batch that may hold it."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson

from lakehose.models import Slice
from lakehose.query.timerange import TimeRange
from lakehose.records import encode_line
from lakehose.storage.base import PendingAppend
from lakehose.storage.sqlite import summaries
from lakehose.storage.sqlite.partition import PartitionReader, PartitionWriter, create_partition
from tests.storage.backendkit import T0, pending

S = 10**9


def wide(*seconds: int) -> PendingAppend:
    """One batch with an event at each of ``seconds`` after T0 (late or early events)."""
    s = Slice("c", "main", "st")
    for n in seconds:
        s.add(encode_line({"time": T0 + n * S}, orjson.dumps({"n": n})), T0 + n * S)
    return PendingAppend([s])


def firsts(data_dir: Path, window: TimeRange, **kw: object) -> tuple[list[int], int | None]:
    reader = PartitionReader(data_dir, 0)
    try:
        narrow = summaries.narrow_end(reader._conn, reader._key, window)
        found = [s[1] for s in reader.summaries(window, {}, **kw)]  # type: ignore[arg-type]
        return found, narrow
    finally:
        reader.close()


def lake(path: Path, batches: int, *late: PendingAppend) -> PartitionWriter:
    path.mkdir(exist_ok=True)
    create_partition(path, 0)
    writer = PartitionWriter(path, 0, durability="none", zstd_level=1)
    for b in range(batches):
        writer.append([pending("n", 10, start=b * 10)])  # 10 events, T0 + 10b .. 10b + 9 s
    for batch in late:
        writer.append([batch])
    return writer


def test_a_narrow_range_finds_the_batches_of_its_time_and_those_that_span_it(
    tmp_path: Path,
) -> None:
    writer = lake(tmp_path, 1000, wide(4800, 5600))  # 10,000 s, one batch of 800 s
    window = TimeRange(T0 + 5000 * S, T0 + 5010 * S)
    found, narrow = firsts(tmp_path, window, descending=False)
    assert narrow == T0 + (5010 + 800) * S  # the index range ends a widest batch later
    assert found == [5000, 10000]
    assert firsts(tmp_path, window, descending=True, below=10002)[0] == [10000, 5000]
    assert firsts(tmp_path, window, descending=False, from_offset=5005)[0] == [5000, 10000]
    # a wider batch written later is seen by the next search of the same process
    writer.append([wide(4900, 6900)])
    writer.close()
    assert firsts(tmp_path, window, descending=False) == (
        [5000, 10000, 10002],
        T0 + (5010 + 2000) * S,
    )
    # most of the partition's time: every summary is read, as before
    assert firsts(tmp_path, TimeRange(T0, T0 + 5000 * S), descending=False)[1] is None


def test_another_lake_at_the_same_path_is_read_whole_again(tmp_path: Path) -> None:
    window = TimeRange(T0 + 1000 * S, T0 + 1010 * S)
    lake(tmp_path, 300).close()
    assert firsts(tmp_path, window, descending=False) == ([1000], T0 + 1019 * S)
    shutil.rmtree(tmp_path)
    lake(tmp_path, 0, wide(800, 1500), *[pending("n", 10, start=b * 10) for b in range(300)])
    assert firsts(tmp_path, window, descending=False) == ([0, 1002], T0 + 1710 * S)
