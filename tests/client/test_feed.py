"""A data feed's bytes cut into blocks and events: chunk boundaries, keep-alives, junk, repeats."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from lakehose.client.streams.feed import MAX_LINE_BYTES, FeedCutter, FeedEvents, FeedLineError


def line(offset: int, **event: object) -> bytes:
    body = {"metadata": {"offset": offset, "eventType": "t"}, "event": event}
    return orjson.dumps(body) + b"\r\n"


def drain(events: FeedEvents) -> list[tuple[int, int, Any]]:
    out = []
    while (got := events.next()) is not None:
        out.append(got)
    return out


def test_chunks_are_cut_at_line_ends_and_the_last_offset_is_tracked() -> None:
    data = b"".join(line(n, n=n) for n in range(5))
    cutter = FeedCutter(0, None)
    blocks = [cutter.feed(data[i : i + 7]) for i in range(0, len(data), 7)]
    assert b"".join(blocks) == data
    assert all(block.endswith(b"\n") for block in blocks if block)
    assert cutter.last == 4


def test_blocks_of_keep_alives_or_junk_are_not_passed_on() -> None:
    cutter = FeedCutter(0, 7)
    assert cutter.feed(b"\r\n\r\n\n") == b""
    assert cutter.feed(b"not json\r\n") == b""
    assert cutter.last == 7
    block = cutter.feed(line(8) + b"\r\n" + b"junk\r\n")
    assert block and cutter.last == 8


def test_a_partial_last_line_counts_only_if_the_body_ended_cleanly_with_it_whole() -> None:
    cutter = FeedCutter(0, None)
    assert cutter.feed(line(0)[:-2]) == b""
    assert cutter.finish() == line(0)[:-2] + b"\n" and cutter.last == 0
    cutter.feed(line(1)[:10])
    assert cutter.finish() == b"" and cutter.last == 0
    cutter.feed(line(2)[:10])
    cutter.reset()  # a new connection
    assert cutter.feed(line(2)) == line(2) and cutter.last == 2


def test_a_line_longer_than_any_event_drops_the_connection() -> None:
    with pytest.raises(FeedLineError):
        FeedCutter(0, None).feed(b"x" * (MAX_LINE_BYTES + 1))


def test_events_are_decoded_in_order_skipping_keep_alives_and_junk() -> None:
    events = FeedEvents({})
    events.add(1, line(3, n=3) + b"\r\n" + line(4, n=4))
    assert [(p, o, e["event"]) for p, o, e in drain(events)] == [(1, 3, {"n": 3}), (1, 4, {"n": 4})]
    events.add(0, b"\r\n" + line(0, n=0) + b"not json\r\n[1]\r\n" + b'{"metadata":{"offset":"7"}}')
    assert [(p, o) for p, o, _ in drain(events)] == [(0, 0)]
    assert events.skipped == 3


def test_events_at_or_below_the_last_handed_out_on_their_partition_are_dropped() -> None:
    events = FeedEvents({0: 10})
    events.add(0, line(9) + line(10) + line(11) + line(11) + line(13))
    assert [o for _, o, _ in drain(events)] == [11, 13]
    events.add(1, line(2))
    assert [o for _, o, _ in drain(events)] == [2]
    assert events.handed_out == {0: 13, 1: 2}


def test_raw_mode_hands_out_each_line_as_text() -> None:
    events = FeedEvents({}, raw=True)
    events.add(0, line(0, a="é"))
    ((_, offset, text),) = drain(events)
    assert offset == 0 and text == line(0, a="é").decode().rstrip("\r\n")
