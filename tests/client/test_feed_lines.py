"""A data feed's bytes cut into events: chunk boundaries, keep-alives, junk, repeats."""

from __future__ import annotations

import orjson
import pytest

from lakehose.client._feed import MAX_LINE_BYTES, FeedLineError, FeedLines


def line(offset: int, **event: object) -> bytes:
    body = {"metadata": {"offset": offset, "eventType": "t"}, "event": event}
    return orjson.dumps(body) + b"\r\n"


def test_events_split_across_chunks_come_out_whole_and_in_order() -> None:
    data = b"".join(line(n, n=n) for n in range(5))
    lines = FeedLines(0, None)
    out = []
    for i in range(0, len(data), 7):
        out += lines.feed(data[i : i + 7])
    assert [(o, e["event"]["n"]) for o, e in out] == [(n, n) for n in range(5)]
    assert lines.last == 4


def test_keep_alive_lines_are_skipped() -> None:
    lines = FeedLines(0, None)
    assert lines.feed(b"\r\n\r\n\n") == []
    assert [o for o, _ in lines.feed(b"\r\n" + line(3) + b"\r\n")] == [3]


def test_lines_that_are_not_events_are_skipped_and_counted() -> None:
    lines = FeedLines(0, None)
    out = lines.feed(b'not json\r\n[1,2]\r\n{"metadata":{"offset":"7"}}\r\n' + line(8))
    assert [o for o, _ in out] == [8]
    assert lines.skipped == 3


def test_events_at_or_below_the_last_offset_are_dropped() -> None:
    lines = FeedLines(0, 10)
    out = lines.feed(line(9) + line(10) + line(11) + line(11) + line(13))
    assert [o for o, _ in out] == [11, 13]


def test_raw_mode_keeps_each_line_as_text() -> None:
    lines = FeedLines(0, None, raw=True)
    ((offset, text),) = lines.feed(line(0, a="é"))
    assert offset == 0
    assert text == line(0, a="é").decode().rstrip("\r\n")


def test_a_partial_last_line_is_dropped_unless_the_body_ended_cleanly_with_it_whole() -> None:
    lines = FeedLines(0, None)
    assert lines.feed(line(0)[:-2]) == []
    assert [o for o, _ in lines.finish()] == [0]
    lines.feed(line(1)[:10])
    assert lines.finish() == []
    lines.feed(line(2)[:10])
    lines.reset()  # a new connection
    assert [o for o, _ in lines.feed(line(2))] == [2]


def test_a_line_longer_than_any_event_drops_the_connection() -> None:
    lines = FeedLines(0, None)
    with pytest.raises(FeedLineError):
        lines.feed(b"x" * (MAX_LINE_BYTES + 1))
