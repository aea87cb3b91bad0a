"""The event-log contract (``storage/base.py``), run against every backend in ``backendkit``."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from lakehose.query.timerange import TimeRange
from lakehose.records import decompress_data, split_line
from lakehose.storage.base import Buckets, EventLog
from tests.storage.backendkit import LOG_BACKENDS, T0, LogBackend, pending, read_all

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


@pytest.fixture(params=LOG_BACKENDS, ids=[b.name for b in LOG_BACKENDS])
def backend(request: pytest.FixtureRequest) -> LogBackend:
    chosen: LogBackend = request.param
    if chosen.name == "jetstream":
        request.getfixturevalue("nats_cluster")  # a real 3-node cluster, R3 streams
    return chosen


def with_log(
    backend: LogBackend, data_dir: Path, partitions: int, fn: Callable[[EventLog], Awaitable[T]]
) -> T:
    """Open the backend's log on a fresh event loop, run ``fn``, close it."""

    async def main() -> T:
        log = backend.open_log(data_dir, partitions)
        await log.start(asyncio.get_running_loop())
        try:
            return await fn(log)
        finally:
            await log.close()

    return asyncio.run(main())


def test_offsets_are_dense_per_partition_and_survive_a_reopen(
    backend: LogBackend, tmp_path: Path
) -> None:
    async def first(log: EventLog) -> list[tuple[int, int, int]]:
        out = []
        for i, n in enumerate([3, 1, 5, 2]):
            r = await log.append(i % 2, pending(f"a{i}", n), 10)
            out.append((r.partition, r.first_offset, r.count))
        return out

    assert with_log(backend, tmp_path, 2, first) == [(0, 0, 3), (1, 0, 1), (0, 3, 5), (1, 1, 2)]

    async def again(log: EventLog) -> tuple[int, int, tuple[int, int]]:
        r = await log.append(0, pending("b", 4), 10)
        return r.first_offset, log.end_offset(0), log.reader(1).bounds()

    assert with_log(backend, tmp_path, 2, again) == (8, 12, (0, 3))


def test_offsets_are_never_reused_after_retention(backend: LogBackend, tmp_path: Path) -> None:
    async def run(log: EventLog) -> tuple[int, tuple[int, int], int, list[Any]]:
        for i in range(3):
            await log.append(0, pending(f"old{i}", 4), 10)
        dropped = await log.apply_retention(0.0, None)  # everything is older than 0 s
        bounds = log.reader(0).bounds()
        r = await log.append(0, pending("new", 2), 10)
        return dropped, bounds, r.first_offset, read_all(log.reader(0))

    dropped, bounds, first, events = with_log(backend, tmp_path, 1, run)
    assert dropped == 12
    assert bounds == (12, 12)
    assert first == 12
    assert [(o, e["tag"]) for o, e in events] == [(12, "new"), (13, "new")]


def test_a_reader_sees_a_prefix_from_any_offset(backend: LogBackend, tmp_path: Path) -> None:
    sizes = [2, 3, 1, 4]

    async def run(log: EventLog) -> None:
        for i, n in enumerate(sizes):
            await log.append(0, pending(f"t{i}", n), 10)

    with_log(backend, tmp_path, 1, run)
    (reader,) = backend.open_readers(tmp_path, 1)
    try:
        everything = read_all(reader)
        assert [o for o, _ in everything] == list(range(sum(sizes)))
        assert [e["tag"] for _, e in everything] == [
            f"t{i}" for i, n in enumerate(sizes) for _ in range(n)
        ]
        for start in range(sum(sizes) + 2):
            # from the middle of a batch too: the batch holding the offset comes first
            batches = reader.batches_from(start, 100)
            if start >= sum(sizes):
                assert batches == []
                continue
            assert batches[0][0].first_offset <= start < batches[0][0].end_offset
            for (a, _), (b, _) in zip(batches, batches[1:], strict=False):
                assert a.end_offset == b.first_offset  # no gap between batches
            assert read_all(reader, start) == everything[start:]
        assert len(reader.batches_from(0, 2)) == 2  # the limit counts batches
    finally:
        reader.close()


def test_an_acknowledged_append_survives_a_sigkill(backend: LogBackend, tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.storage.backendkit", "append", backend.name]
        + [str(tmp_path), "0", "40", "k"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    acked: list[tuple[int, int, str]] = []
    assert proc.stdout is not None
    try:
        while len(acked) < 25:
            line = proc.stdout.readline()
            assert line, f"the appender exited early ({proc.poll()})"
            first, count, tag = line.split()
            acked.append((int(first), int(count), tag))
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    (reader,) = backend.open_readers(tmp_path, 1)
    try:
        stored = read_all(reader)
        start, end = reader.bounds()
    finally:
        reader.close()
    assert start == 0 and end == len(stored)
    assert [o for o, _ in stored] == list(range(end))  # dense, whatever the kill cut off
    by_offset = dict(stored)
    for first, count, tag in acked:
        assert [by_offset[o]["tag"] for o in range(first, first + count)] == [tag] * count


def test_summaries_agree_with_the_batches(backend: LogBackend, tmp_path: Path) -> None:
    async def run(log: EventLog) -> None:
        await log.append(0, pending("x", 3, connector="fw", start=0), 10)
        await log.append(0, pending("y", 2, connector="edr", index="sec", start=100), 10)
        await log.append(0, pending("z", 4, connector="fw", start=200), 10)

    with_log(backend, tmp_path, 1, run)
    (reader,) = backend.open_readers(tmp_path, 1)
    try:
        every = list(reader.summaries(TimeRange(None, None), {}, descending=False))
        assert [(s[1], s[2], s[6], s[7]) for s in every] == [
            (0, 3, "fw", "main"),
            (3, 2, "edr", "sec"),
            (5, 4, "fw", "main"),
        ]
        blobs = reader.blobs([s[1] for s in every])
        assert dict(reader.blob_range(0, 9)) == blobs
        for s in every:
            partition, first, count, min_time, max_time = s[:5]
            assert partition == 0
            lines = decompress_data(blobs[first], 0, first).split(b"\n")
            assert len(lines) == count
            times = [split_line(line)[0]["time"] for line in lines]
            assert (min(times), max(times)) == (min_time, max_time)
        newest_first = list(reader.summaries(TimeRange(None, None), {}, descending=True))
        assert newest_first == every[::-1]
        tagged = reader.summaries(
            TimeRange(None, None), {"#connector": frozenset({"fw"})}, descending=False
        )
        assert [s[1] for s in tagged] == [0, 5]
        nothing = reader.summaries(TimeRange(None, None), {"#index": frozenset()}, descending=False)
        assert list(nothing) == []
        window = TimeRange(T0 + 100 * 10**9, T0 + 150 * 10**9)
        assert [s[1] for s in reader.summaries(window, {}, descending=False)] == [3]
        assert [
            s[1]
            for s in reader.summaries(TimeRange(None, None), {}, descending=False, from_offset=4)
        ] == [3, 5]
        assert [
            s[1] for s in reader.summaries(TimeRange(None, None), {}, descending=True, below=5)
        ] == [3, 0]
        assert reader.connector_totals()["fw"][0] == 7
    finally:
        reader.close()


def test_aggregated_summaries_agree_with_the_summaries(backend: LogBackend, tmp_path: Path) -> None:
    s = 10**9

    async def run(log: EventLog) -> None:
        await log.append(0, pending("x", 3, connector="fw", start=0), 10)  # T0 .. T0+2s
        await log.append(0, pending("w", 2, connector="fw", start=59), 10)  # across T0+60s
        await log.append(0, pending("y", 2, connector="edr", index="sec", start=100), 10)
        await log.append(0, pending("z", 4, connector="fw", start=200), 10)  # T0+200..203s

    with_log(backend, tmp_path, 1, run)
    (reader,) = backend.open_readers(tmp_path, 1)
    minute = Buckets(origin=T0, width=60 * s, low=T0, high=T0 + 300 * s)
    try:
        everything = TimeRange(None, None)
        assert sorted(reader.tag_groups(everything, {})) == [
            ("edr", "sec", "st", 1, T0 + 100 * s, T0 + 101 * s),
            ("fw", "main", "st", 3, T0, T0 + 203 * s),
        ]
        assert sorted(reader.bucket_counts(everything, {}, minute)) == [
            ("edr", "sec", "st", 1, 2, 1),  # (tags, bucket, events, batches)
            ("fw", "main", "st", 0, 3, 1),
            ("fw", "main", "st", 3, 4, 1),
        ]
        straddling = reader.summaries(everything, {}, descending=False, straddling=minute)
        assert [x[1] for x in straddling] == [3]  # "w", across a bucket's edge
        # the same sums, by hand from the per-batch summaries, for other ranges, tags, buckets
        cases = [
            (TimeRange(T0 + 60 * s, None), {}, minute),
            (everything, {"#connector": frozenset({"fw"})}, Buckets(T0, 60 * s, T0, T0 + 202 * s)),
            (TimeRange(None, T0 + 101 * s), {}, Buckets(T0 - 7 * s, 10 * s, T0, T0 + 101 * s)),
            (everything, {"#index": frozenset()}, minute),
        ]
        for span, tags, cut in cases:
            rows = list(reader.summaries(span, tags, descending=False))
            groups: dict[tuple[str, str, str], list[int]] = {}
            buckets: dict[tuple[str, str, str, int], list[int]] = {}
            for _, _, count, low, high, _, *combo in rows:
                key = (combo[0], combo[1], combo[2])
                g = groups.setdefault(key, [0, low, high])
                g[:] = [g[0] + 1, min(g[1], low), max(g[2], high)]
                if cut.holds(low, high):
                    b = buckets.setdefault((*key, (low - cut.origin) // cut.width), [0, 0])
                    b[:] = [b[0] + count, b[1] + 1]
            assert sorted(reader.tag_groups(span, tags)) == sorted(
                (*k, *v) for k, v in groups.items()
            )
            assert sorted(reader.bucket_counts(span, tags, cut)) == sorted(
                (*k, *v) for k, v in buckets.items()
            )
            straddling = reader.summaries(span, tags, descending=False, straddling=cut)
            assert list(straddling) == [x for x in rows if not cut.holds(x[3], x[4])]
    finally:
        reader.close()


def test_concurrent_appenders_in_one_process_share_commits(
    backend: LogBackend, tmp_path: Path
) -> None:
    async def run(log: EventLog) -> list[tuple[int, int, str]]:
        async def one(i: int) -> tuple[int, int, str]:
            r = await log.append(0, pending(f"c{i}", 1 + i % 5), 10)
            return r.first_offset, r.count, f"c{i}"

        return list(await asyncio.gather(*(one(i) for i in range(60))))

    results = with_log(backend, tmp_path, 1, run)
    ranges = sorted((first, first + count) for first, count, _ in results)
    assert ranges[0][0] == 0
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))  # disjoint, dense
    (reader,) = backend.open_readers(tmp_path, 1)
    try:
        by_offset = dict(read_all(reader))
    finally:
        reader.close()
    for first, count, tag in results:
        assert {by_offset[o]["tag"] for o in range(first, first + count)} == {tag}


def test_concurrent_appenders_in_several_processes_get_disjoint_offsets(
    backend: LogBackend, tmp_path: Path
) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.storage.backendkit", "append-exit", backend.name]
            + [str(tmp_path), "0", "30", f"w{w}-"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        for w in range(3)
    ]
    acked = []
    for proc in procs:
        out, _ = proc.communicate(timeout=600)  # a hang guard, not a timing
        assert proc.returncode == 0
        acked.extend(line.split() for line in out.splitlines())
    assert len(acked) == 90
    (reader,) = backend.open_readers(tmp_path, 1)
    try:
        stored = read_all(reader)
    finally:
        reader.close()
    assert [o for o, _ in stored] == list(range(len(stored)))
    assert len(stored) == sum(int(count) for _, count, _ in acked)
    by_offset = dict(stored)
    for first, count, tag in acked:
        assert {by_offset[o]["tag"] for o in range(int(first), int(first) + int(count))} == {tag}


def test_a_waiting_reader_wakes_on_an_append(backend: LogBackend, tmp_path: Path) -> None:
    async def run(log: EventLog) -> tuple[int, int, int]:
        idle = await log.wait_for_end_past(0, 0, 0.05)  # nothing comes: the end as it is
        waiter = asyncio.create_task(log.wait_for_end_past(0, 0, 60))
        await asyncio.sleep(0)
        await log.append(0, pending("w", 3), 10)
        woken = await waiter
        at_once = await log.wait_for_end_past(0, 2, 60)  # already past: no wait
        return idle, woken, at_once

    assert with_log(backend, tmp_path, 1, run) == (0, 3, 3)


def test_ack_ids_are_reported_once(backend: LogBackend, tmp_path: Path) -> None:
    async def run(log: EventLog) -> tuple[list[int | None], set[int], set[int]]:
        ids = []
        for i in range(3):
            item = pending(f"a{i}", 1)
            item.ack_channel = "chan"
            ids.append((await log.append(0, item, 10)).ack_id)
        first = await log.query_acks(0, "chan", [0, 1, 2, 99])
        second = await log.query_acks(0, "chan", [0, 1, 2])
        return ids, first, second

    ids, first, second = with_log(backend, tmp_path, 1, run)
    assert ids == [0, 1, 2]
    assert first == {0, 1, 2}
    assert second == set()


def test_a_reader_never_sees_a_gap_while_appends_run(backend: LogBackend, tmp_path: Path) -> None:
    """Read while another process appends: every read is a prefix (dense from the start
    offset, at least up to the end read before it), and the end offset only grows."""
    backend.open_log(tmp_path, 1)  # create the partition before the appender starts
    with subprocess.Popen(
        [sys.executable, "-m", "tests.storage.backendkit", "append-exit", backend.name]
        + [str(tmp_path), "0", "200", "r"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    ) as proc:
        (reader,) = backend.open_readers(tmp_path, 1)
        ends = []
        try:
            while True:
                done = proc.poll() is not None  # before the read: the last read sees it all
                start, end = reader.bounds()
                stored = read_all(reader)  # read after the bounds: may have grown since
                assert [o for o, _ in stored] == list(range(start, start + len(stored)))
                assert len(stored) >= end - start
                ends.append(end)
                if done and len(ends) >= 2:
                    break
        finally:
            reader.close()
        assert proc.wait() == 0
    assert ends == sorted(ends)
    assert ends[-1] == sum(1 + i % 7 for i in range(200))
