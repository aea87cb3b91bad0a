"""What the JetStream log adds to the contract: requests larger than NATS's max_payload."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import orjson

from lakehose.models import Slice
from lakehose.records import decompress_data, encode_line, split_line
from lakehose.storage.base import PendingAppend
from lakehose.storage.jetstream.devcluster import DevCluster
from lakehose.storage.jetstream.layout import Layout
from lakehose.storage.jetstream.log import JetStreamEventLog, open_readers
from lakehose.storage.jetstream.writer import HEADER_ROOM, Request, build_messages, merge_requests
from tests.storage.backendkit import T0, make_slice, namespace, pending, read_all

MAX_PAYLOAD = 128 * 1024


def noisy(tag: str, count: int) -> Slice:
    """Events that do not compress: ~1 KB of random hex each."""
    s = Slice("c", "main", "st")
    for i in range(count):
        event = {"tag": tag, "n": i, "noise": os.urandom(512).hex()}
        s.add(encode_line({"time": T0 + i}, orjson.dumps(event)), T0 + i)
    return s


def test_batches_are_packed_into_messages_that_fit() -> None:
    slices = [noisy("a", 150), noisy("b", 150)]
    messages = build_messages(slices, 1, MAX_PAYLOAD, "w-1")
    assert len(messages) >= 2  # ~330 KB of events, ~160 KB compressed, in 112 KB messages
    assert all(r[6] <= (MAX_PAYLOAD - HEADER_ROOM) * 9 // 10 for m in messages for r in m.rows)
    assert all(len(m.payload) <= MAX_PAYLOAD - HEADER_ROOM for m in messages)
    assert sum(m.count for m in messages) == 300
    assert len({m.msg_id for m in messages}) == len(messages)  # each retried under its own id


def test_merged_requests_share_batches_by_tags_and_stay_in_order() -> None:
    def request(*slices: Slice) -> Request:
        count = sum(len(s) for s in slices)
        return Request(slices, None, count, sum(s.nbytes for s in slices), None)  # type: ignore[arg-type]

    group = [
        request(make_slice("a", 3)),
        request(make_slice("b", 2), make_slice("c", 4, index="other")),
        request(make_slice("d", 1, index="other")),
    ]
    msg = merge_requests(group, 1, "w-9")
    assert msg.msg_id == "w-9" and msg.count == 10
    assert [(r[0], r[4]) for r in msg.rows] == [(5, "main"), (5, "other")]  # by tags, in order
    lines = b""
    for row in msg.rows:
        blob, msg.payload = msg.payload[: row[7]], msg.payload[row[7] :]
        lines += decompress_data(blob, 0, 0) + b"\n"
    tags = [orjson.loads(split_line(x)[1])["tag"] for x in lines.split(b"\n") if x]
    assert tags == ["a"] * 3 + ["b"] * 2 + ["c"] * 4 + ["d"]


def test_a_request_over_max_payload_is_stored_whole_and_in_order(tmp_path: Path) -> None:
    with DevCluster(tmp_path / "nats", nodes=1, max_payload="128KB") as cluster:

        async def run() -> tuple[int, int, int]:
            log = JetStreamEventLog(cluster.urls, 1, namespace="split", replicas=1)
            await log.start(asyncio.get_running_loop())
            try:
                await log.append(0, PendingAppend([noisy("before", 3)]), 10)
                r = await log.append(0, PendingAppend([noisy("big", 200), noisy("tail", 50)]), 10)
                info = await log.link.run(log.link.js.stream_info(Layout("split").stream(0)))
                return r.first_offset, r.count, int(info.state.messages)
            finally:
                await log.close()

        first, count, messages = asyncio.run(run())
        (reader,) = open_readers(cluster.urls, "split", 1)
        stored = read_all(reader)
    assert (first, count) == (3, 250)
    assert messages >= 3  # the big request took several messages
    assert [o for o, _ in stored] == list(range(253))
    tags = [e["tag"] for _, e in stored]
    assert tags == ["before"] * 3 + ["big"] * 200 + ["tail"] * 50
    assert [e["n"] for _, e in stored[3:203]] == list(range(200))


def test_concurrent_requests_share_messages_and_keep_their_offsets(
    nats_cluster: DevCluster, tmp_path: Path
) -> None:
    """Requests arriving while the writer's messages await their acks go out together, and
    each request's events are still at the offsets it was given."""
    ns = namespace(tmp_path)

    async def run() -> tuple[list[tuple[int, int, str]], int]:
        log = JetStreamEventLog(nats_cluster.urls, 1, namespace=ns)
        await log.start(asyncio.get_running_loop())
        try:
            results = await asyncio.gather(
                *(log.append(0, pending(f"r{i}", 1 + i % 5), 10) for i in range(64))
            )
            info = await log.link.run(log.link.js.stream_info(Layout(ns).stream(0)))
            acked = [(r.first_offset, r.count, f"r{i}") for i, r in enumerate(results)]
            return acked, int(info.state.messages)
        finally:
            await log.close()

    acked, messages = asyncio.run(run())
    (reader,) = open_readers(nats_cluster.urls, ns, 1)
    stored = dict(read_all(reader))
    assert messages < 64  # coalesced
    assert sorted(stored) == list(range(sum(c for _, c, _ in acked)))  # dense
    for first, count, tag in acked:
        assert [stored[o]["tag"] for o in range(first, first + count)] == [tag] * count


def test_ack_ids_of_requests_sharing_messages_are_distinct_and_all_reported(
    nats_cluster: DevCluster, tmp_path: Path
) -> None:
    ns = namespace(tmp_path)

    async def run() -> tuple[list[int], set[int], set[int]]:
        log = JetStreamEventLog(nats_cluster.urls, 1, namespace=ns)
        await log.start(asyncio.get_running_loop())
        try:
            results = await asyncio.gather(
                *(log.append(0, pending(f"r{i}", 2), 10) for i in range(4)),
                *(log.append(0, PendingAppend([make_slice(f"k{i}", 2)], "chan"), 10)
                  for i in range(40)),
            )  # fmt: skip
            ids = [r.ack_id for r in results if r.ack_id is not None]
            first = await log.query_acks(0, "chan", ids)
            again = await log.query_acks(0, "chan", ids)
            return [int(i) for i in ids], first, again
        finally:
            await log.close()

    ids, reported, again = asyncio.run(run())
    assert sorted(ids) == list(range(40))  # one each, dense, whichever message it shared
    assert reported == set(ids) and again == set()
