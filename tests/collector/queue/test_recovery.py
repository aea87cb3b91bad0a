"""The disk queue at startup: which segment files are kept, sealed, cut or deleted."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from lakehose.collector.queue.recovery import Segment, recover
from lakehose.collector.queue.segment import encode_many, open_name, sealed_name


@pytest.mark.parametrize(
    ("seq", "above"),
    [(0, 6), (4, 6), (5, 5), (7, 3), (9, 1), (10, 0), (12, 0)],
)
def test_count_above_counts_the_records_after_seq(seq: int, above: int) -> None:
    assert Segment(5, 10, 0, Path("x"), True).count_above(seq) == above
    assert Segment(5, 4, 0, Path("x"), False).count_above(seq) == 0  # empty


def sealed(directory: Path, first: int, count: int) -> Path:
    path = directory / sealed_name(first, first + count - 1)
    path.write_bytes(encode_many(first, [b"r%d" % n for n in range(count)]))
    return path


def test_segments_come_back_in_order_and_delivered_ones_are_deleted(tmp_path: Path) -> None:
    a, b, c = sealed(tmp_path, 1, 3), sealed(tmp_path, 4, 3), sealed(tmp_path, 7, 2)
    (tmp_path / "cursor").write_text("3")
    (tmp_path / "x.tmp").write_text("half written")
    got = recover(tmp_path, 3, "q")  # 1..3 delivered: the first segment goes, exactly
    assert [(s.first, s.last, s.size, s.path, s.sealed) for s in got] == [
        (4, 6, b.stat().st_size, b, True),
        (7, 8, c.stat().st_size, c, True),
    ]
    assert not a.exists() and not (tmp_path / "x.tmp").exists()
    assert (tmp_path / "cursor").read_text() == "3"  # not a segment: left alone
    assert [s.first for s in recover(tmp_path, 5, "q")] == [4, 7]  # 6 is still to deliver
    assert recover(tmp_path, 8, "q") == [] and sorted(p.name for p in tmp_path.iterdir()) == [
        "cursor"
    ]


def test_a_segment_left_open_is_sealed_with_its_last_record(tmp_path: Path) -> None:
    data = encode_many(10, [b"a", b"bb", b"ccc"])
    (tmp_path / open_name(10)).write_bytes(data)
    [segment] = recover(tmp_path, 0, "q")
    assert (segment.first, segment.last, segment.size, segment.sealed) == (10, 12, len(data), True)
    assert segment.path == tmp_path / sealed_name(10, 12)
    assert [p.name for p in tmp_path.iterdir()] == [sealed_name(10, 12)]
    assert segment.path.read_bytes() == data


def test_a_torn_tail_of_an_open_segment_is_cut_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = encode_many(10, [b"a", b"bb"])
    (tmp_path / open_name(10)).write_bytes(data + encode_many(12, [b"torn"])[:-2])
    with caplog.at_level(logging.WARNING):
        [segment] = recover(tmp_path, 0, "q")
    assert (segment.last, segment.size) == (11, len(data))
    assert segment.path.read_bytes() == data
    assert "disk queue q: cut 22 bytes of a record torn by a crash" in caplog.text


def test_damage_inside_an_open_segment_is_not_cut(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = encode_many(1, [b"a"])
    data = good + b"\x00garbage" + encode_many(2, [b"b"])
    (tmp_path / open_name(1)).write_bytes(data)
    with caplog.at_level(logging.WARNING):
        [segment] = recover(tmp_path, 0, "q")
    assert (segment.last, segment.size) == (2, len(data)) and "cut" not in caplog.text


def test_an_open_segment_without_a_record_is_deleted(tmp_path: Path) -> None:
    (tmp_path / open_name(1)).write_bytes(b"")
    (tmp_path / open_name(5)).write_bytes(b"garbage only")
    assert recover(tmp_path, 0, "q") == [] and list(tmp_path.iterdir()) == []


def test_an_open_segment_already_delivered_is_sealed_then_deleted(tmp_path: Path) -> None:
    (tmp_path / open_name(1)).write_bytes(encode_many(1, [b"a", b"b"]))
    (tmp_path / open_name(3)).write_bytes(encode_many(3, [b"c"]))
    [segment] = recover(tmp_path, 2, "q")
    assert (segment.first, segment.last) == (3, 3)
    assert [p.name for p in tmp_path.iterdir()] == [sealed_name(3, 3)]


def test_a_torn_tail_after_damage_inside_is_still_cut(tmp_path: Path) -> None:
    kept = encode_many(1, [b"a"]) + b"\x00garbage" + encode_many(2, [b"b"])
    (tmp_path / open_name(1)).write_bytes(kept + encode_many(3, [b"torn"])[:-1])
    [segment] = recover(tmp_path, 0, "q")
    assert (segment.last, segment.size) == (2, len(kept))
    assert segment.path.read_bytes() == kept


def test_startup_leaves_no_file_open(tmp_path: Path) -> None:
    (tmp_path / open_name(1)).write_bytes(encode_many(1, [b"a"]))
    (tmp_path / open_name(5)).write_bytes(b"garbage only")
    sealed(tmp_path, 2, 3)
    before = len(os.listdir("/proc/self/fd"))
    assert len(recover(tmp_path, 0, "q")) == 2
    assert len(os.listdir("/proc/self/fd")) == before
