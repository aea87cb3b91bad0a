"""The disk queue's segment format: record layout, names, and reading past damaged bytes."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lakehose.collector.queue.segment import (
    HEADER_SIZE,
    MAGIC,
    MAX_RECORD,
    SegmentReader,
    Skip,
    encode,
    encode_many,
    open_name,
    parse_name,
    scan,
    sealed_name,
)

SCAN_CHUNK = 64 * 1024  # segment._SCAN_CHUNK: how far the resync reads at a time


def test_a_record_is_magic_length_seq_crc_then_the_payload() -> None:
    record = encode(7, b"hello")
    body = struct.pack("<IQ", 5, 7)
    crc = zlib.crc32(body + b"hello")
    assert record == b"LHQ\x01" + body + struct.pack("<I", crc) + b"hello"
    assert HEADER_SIZE == 20 and len(record) == HEADER_SIZE + 5


@settings(max_examples=30)
@given(st.integers(0, 2**40), st.lists(st.binary(max_size=40), max_size=6))
def test_encode_many_is_encode_of_each_record_joined(first: int, payloads: list[bytes]) -> None:
    assert encode_many(first, payloads) == b"".join(
        encode(first + i, p) for i, p in enumerate(payloads)
    )


@pytest.mark.parametrize(
    ("name", "parsed"),
    [
        (sealed_name(1, 12), (1, 12)),
        (open_name(13), (13, None)),
        ("00000000000000000001-00000000000000000012.seg", (1, 12)),
        ("00000000000000000013.open", (13, None)),
        ("0000000000000000001-00000000000000000012.seg", None),  # 19 digits
        ("00000000000000000001-00000000000000000012.open", None),
        ("00000000000000000013.seg", None),
        ("00000000000000000013.open.tmp", None),
        ("x00000000000000000013.open", None),
        ("cursor", None),
    ],
)
def test_segment_names(name: str, parsed: tuple[int, int | None] | None) -> None:
    assert parse_name(name) == parsed


def write(tmp_path: Path, *parts: bytes) -> Path:
    path = tmp_path / open_name(1)
    path.write_bytes(b"".join(parts))
    return path


def read_all(
    path: Path, end: int | None = None, **kw: object
) -> tuple[list[tuple[int, bytes]], list[Skip]]:
    reader = SegmentReader(path, **kw)  # type: ignore[arg-type]
    end = path.stat().st_size if end is None else end
    got = []
    try:
        while (found := reader.next(end)) is not None:
            got.append(found)
        return got, reader.skips
    finally:
        reader.close()


def test_records_come_back_in_order_up_to_end(tmp_path: Path) -> None:
    path = write(tmp_path, encode_many(1, [b"a", b"", b"ccc"]))
    assert read_all(path) == ([(1, b"a"), (2, b""), (3, b"ccc")], [])
    assert read_all(path, end=HEADER_SIZE + 1) == ([(1, b"a")], [])  # a record ending at end
    two = 2 * HEADER_SIZE + 1  # an empty record, the header alone, ending exactly at end
    assert read_all(path, end=two) == ([(1, b"a"), (2, b"")], [])
    assert read_all(path, end=two - 1) == ([(1, b"a")], [Skip(HEADER_SIZE + 1, two - 1)])
    assert read_all(path, offset=HEADER_SIZE + 1) == ([(2, b""), (3, b"ccc")], [])


def test_an_end_past_the_file_reads_what_is_there(tmp_path: Path) -> None:
    path = write(tmp_path, encode(1, b"abc"), encode(2, b"defg")[:-2])  # a torn last record
    size = path.stat().st_size
    assert read_all(path, end=size + 100) == ([(1, b"abc")], [Skip(HEADER_SIZE + 3, size + 100)])
    header_only = write(tmp_path, encode(1, b"abc"), encode(2, b"defg")[:10])
    assert read_all(header_only, end=1000)[0] == [(1, b"abc")]


def test_a_damaged_record_costs_that_record_only(tmp_path: Path) -> None:
    first, second, third = encode(1, b"one"), bytearray(encode(2, b"two")), encode(3, b"three")
    second[-1] ^= 0xFF  # its payload: the checksum no longer holds
    path = write(tmp_path, first, bytes(second), third)
    start = len(first)
    assert read_all(path) == ([(1, b"one"), (3, b"three")], [Skip(start, start + len(second))])
    assert scan(path, path.stat().st_size) == (
        3,
        path.stat().st_size,
        2,
        [Skip(start, start + len(second))],
    )


def test_a_false_magic_in_the_garbage_is_passed_over(tmp_path: Path) -> None:
    bogus = MAGIC + struct.pack("<IQI", 3, 9, 0) + b"xyz"  # plausible header, wrong checksum
    huge = MAGIC + struct.pack("<IQI", MAX_RECORD + 1, 9, 0)  # a length no record has
    path = write(tmp_path, b"junk", bogus, huge, b"more", encode(5, b"ok"), bogus)
    size = path.stat().st_size
    good = 4 + len(bogus) + len(huge) + 4
    assert read_all(path) == ([(5, b"ok")], [Skip(0, good), Skip(good + HEADER_SIZE + 2, size)])


@pytest.mark.parametrize("gap", [0, 1, SCAN_CHUNK - 3, SCAN_CHUNK - 1, SCAN_CHUNK, SCAN_CHUNK + 5])
def test_the_resync_finds_a_record_across_its_read_chunks(tmp_path: Path, gap: int) -> None:
    """The next record's magic starting ``gap`` bytes after the scan starts: also when the
    magic straddles two of the scan's reads."""
    path = write(tmp_path, b"\x00" * (gap + 1), encode(4, b"found"))
    assert read_all(path) == ([(4, b"found")], [Skip(0, gap + 1)])


def test_records_outside_the_seq_range_are_skipped(tmp_path: Path) -> None:
    path = write(tmp_path, encode_many(1, [b"a", b"b", b"c", b"d"]))
    got, skips = read_all(path, seq_range=(2, 3))
    assert got == [(2, b"b"), (3, b"c")]
    assert skips == [Skip(0, HEADER_SIZE + 1), Skip(3 * (HEADER_SIZE + 1), 4 * (HEADER_SIZE + 1))]


def test_a_record_with_a_damaged_magic_or_cut_by_end_is_not_read(tmp_path: Path) -> None:
    wrong_magic = b"LHQ\x02" + encode(1, b"abc")[4:]  # the checksum does not cover the magic
    path = write(tmp_path, wrong_magic, encode(2, b"de"))
    assert read_all(path) == ([(2, b"de")], [Skip(0, len(wrong_magic))])
    path = write(tmp_path, encode(1, b"a"), encode(2, b"bcd"))
    cut = 2 * HEADER_SIZE + 1 + 2  # inside the second record's payload
    assert read_all(path, end=cut) == ([(1, b"a")], [Skip(HEADER_SIZE + 1, cut)])


def test_scan_of_a_segment_without_a_good_record(tmp_path: Path) -> None:
    path = write(tmp_path, b"no record here")
    assert scan(path, 14) == (None, 0, 0, [Skip(0, 14)])
    assert scan(write(tmp_path, b""), 0) == (None, 0, 0, [])


def test_the_reader_bound_on_a_record_is_256_mib() -> None:
    """The format's limit: a header claiming more is damage (tested above with one byte
    more); a real record that large is too costly to write in a test."""
    assert MAX_RECORD == 256 << 20
