"""The data feed's read of a JetStream lake (``JetStreamEventLog.feed_batches``/``feed_start``):
the same batches as ``batches_from``; payloads brought by the tail while a feed is at the
end, and the tail back to headers only later, without losing or repeating a message; a
purge under a feed read."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from lakehose.models import BatchInfo
from lakehose.storage.jetstream import index as index_module
from lakehose.storage.jetstream.devcluster import DevCluster
from lakehose.storage.jetstream.log import JetStreamEventLog
from tests.storage.backendkit import namespace, pending


async def _feed_read(
    log: JetStreamEventLog, offset: int, step: int
) -> list[tuple[BatchInfo, bytes]]:
    """Everything from ``offset`` on, read as the data feed reads it."""
    reader = log.reader(0)
    out: list[tuple[BatchInfo, bytes]] = []
    while batches := await log.feed_batches(reader, offset, step):
        out += batches
        offset = batches[-1][0].end_offset
    return out


async def _until(done: Callable[[], bool]) -> None:
    for _ in range(500):
        if done():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not within 5 s")


def test_feed_reads_match_batches_from_and_live_payloads_come_with_the_tail(
    nats_cluster: DevCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index_module, "LIVE_PAYLOADS", 0.5)
    ns = namespace(tmp_path)

    async def run() -> tuple[list[list[int]], list[bool], int]:
        log = JetStreamEventLog(nats_cluster.urls, 1, namespace=ns)
        await log.start(asyncio.get_running_loop())
        try:
            for i in range(40):  # more messages than one read-ahead
                await log.append(0, pending(f"a{i}", 1 + i % 3), 10)
            reader = log.reader(0)
            fed = await _feed_read(log, 0, 3)
            synced = await asyncio.to_thread(reader.batches_from, 0, 1000)
            assert [(i, b) for i, b in fed] == [(i, b) for i, b in synced]
            assert [i.first_offset for i, _ in await _feed_read(log, 5, 2)][0] <= 5
            index = log.indexes[0]
            cached: list[bool] = []  # per append: its payload was in the cache at its 200
            for phase in range(3):  # at the end, later on, and at the end again
                for k in range(5):
                    if phase != 1:  # a feed at the end (as it is after each catch-up)
                        assert log.feed_start(reader) == 0
                    seq = index.applied_seq + 1
                    await log.append(0, pending(f"p{phase}.{k}", 2), 10)
                    cached.append(bool(index.payloads.get_many([seq])))
                    if phase == 1 and k == 0:  # the switch back is made after this one
                        await _until(lambda: index._tail.headers_only)
                if phase == 0:
                    await asyncio.sleep(0.6)  # past LIVE_PAYLOADS
            ends = [[i.first_offset, i.count] for i, _ in await _feed_read(log, 0, 7)]
            return ends, cached, index.end
        finally:
            await log.close()

    ends, cached, end = asyncio.run(run())
    assert cached[:5] == [True] * 5  # brought by the tail, not fetched
    # nobody at the end since: the first message after LIVE_PAYLOADS still came whole (it
    # is where the tail notices), the next ones as headers only
    assert cached[5:10] == [True, False, False, False, False]
    assert cached[10:] == [True] * 5
    offsets = [o for first, count in ends for o in range(first, first + count)]
    assert offsets == list(range(end))  # every message once, in order, across the switches
    assert end == sum(1 + i % 3 for i in range(40)) + 30


def test_a_purge_under_a_feed_read_ends_it_and_moves_the_start(
    nats_cluster: DevCluster, tmp_path: Path
) -> None:
    """Another process's retention: the index still lists the purged messages until the
    read misses one, syncs, and the feed's start moves past them."""
    ns = namespace(tmp_path)

    async def run() -> tuple[int, int, int]:
        log = JetStreamEventLog(nats_cluster.urls, 1, namespace=ns)
        await log.start(asyncio.get_running_loop())
        try:
            for i in range(6):
                await log.append(0, pending(f"r{i}", 4), 10)
            index = log.indexes[0]
            first_seq = index.batches[0].seq
            await log.link.run(log.link.js.purge_stream(index.stream, seq=first_seq + 3))
            reader = log.reader(0)
            before = log.feed_start(reader)
            read = await log.feed_batches(reader, 0, 4)
            return before, len(read), log.feed_start(reader)
        finally:
            await log.close()

    before, read, start = asyncio.run(run())
    assert (before, read, start) == (0, 0, 12)
