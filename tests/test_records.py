"""The record format: lines of META<TAB>EVENT in a checksummed zstd frame."""

from __future__ import annotations

import random

import orjson
import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st

from lakehose.errors import CorruptBatchError
from lakehose.records import (
    FIXED_WIDTH_NS,
    LINE_TEMPLATE,
    META_HEAD,
    META_MILLIS,
    META_REST,
    RAW_KEY,
    RAW_TAIL,
    SEPARATOR,
    ZstdError,
    check_lines,
    compress_lines,
    decompress_data,
    decompress_lines,
    decompressor,
    encode_line,
    split_line,
)


def test_a_line_is_compact_meta_a_tab_and_the_event_json() -> None:
    line = encode_line({"time": 1, "host": "h"}, b'{"a":"x\\ty"}')
    assert line == b'{"time":1,"host":"h"}\t{"a":"x\\ty"}'
    assert split_line(line) == ({"time": 1, "host": "h"}, b'{"a":"x\\ty"}')
    assert split_line(encode_line({}, b'"te\\txt"')) == ({}, b'"te\\txt"')


@pytest.mark.parametrize("level", [1, 3, 19])
def test_lines_round_trip_through_a_checksummed_frame(level: int) -> None:
    lines = [encode_line({"time": i}, b'"event %d"' % i) for i in range(50)]
    blob = compress_lines(lines, level)
    params = zstandard.get_frame_parameters(blob)
    assert params.has_checksum and params.content_size == len(b"\n".join(lines))
    assert decompress_data(blob, 0, 0) == b"\n".join(lines)
    assert decompress_lines(blob, 3, 100, 50) == lines
    assert decompressor()(blob) == b"\n".join(lines)


def test_levels_are_kept_apart() -> None:
    lines = [b"x" * 200 + b"%d" % i for i in range(200)]
    assert compress_lines(lines, 1) == zstandard.ZstdCompressor(
        level=1, write_checksum=True, write_content_size=True
    ).compress(b"\n".join(lines))
    assert compress_lines(lines, 19) == zstandard.ZstdCompressor(
        level=19, write_checksum=True, write_content_size=True
    ).compress(b"\n".join(lines))
    assert compress_lines(lines) == compress_lines(lines, 1)


def test_the_default_level_is_1() -> None:
    rng = random.Random(1)
    words = ["alpha", "beta", "gamma", "delta", "eps"]
    lines = [
        orjson.dumps({"time": i, "msg": " ".join(rng.choice(words) + str(rng.randint(0, 99))
                                                 for _ in range(12))})
        for i in range(3000)
    ]  # fmt: skip
    fast = zstandard.ZstdCompressor(level=1, write_checksum=True, write_content_size=True)
    assert compress_lines(lines) == fast.compress(b"\n".join(lines))
    assert compress_lines(lines) != compress_lines(lines, 2)  # the levels differ on this text


def test_a_corrupt_blob_is_reported_with_its_partition_and_offset() -> None:
    blob = bytearray(compress_lines([b"{}\t1", b"{}\t2"]))
    blob[-1] ^= 0xFF  # the checksum
    with pytest.raises(CorruptBatchError, match="offset 100 of partition 3") as caught:
        decompress_data(bytes(blob), 3, 100)
    assert (caught.value.partition, caught.value.first_offset) == (3, 100)
    with pytest.raises(CorruptBatchError):
        decompress_lines(bytes(blob), 3, 100, 2)
    with pytest.raises(ZstdError):
        decompressor()(bytes(blob))


def test_a_batch_with_the_wrong_line_count_is_corrupt() -> None:
    blob = compress_lines([b"{}\t1", b"{}\t2"])
    assert check_lines([b"a", b"b"], 0, 0, 2) == [b"a", b"b"]
    with pytest.raises(CorruptBatchError, match="2 lines, expected 3"):
        decompress_lines(blob, 1, 7, 3)
    with pytest.raises(CorruptBatchError, match="2 lines, expected 1"):
        check_lines([b"a", b"b"], 1, 7, 1)


@pytest.mark.parametrize(
    "ns", [10**18 - 1, 10**18, 1_767_225_600_119_000_123, 10**19 - 1, 10**19, 0, 2**63 - 1]
)
def test_fixed_width_times_are_exactly_the_19_digit_ones(ns: int) -> None:
    low, high = FIXED_WIDTH_NS
    assert (low <= ns < high) == (len(str(ns)) == 19)


def _ingest_line(ns: int, host: str | None, fields: dict[str, str] | None, raw: bool) -> bytes:
    """A line as ingest writes it (parsers/hec.py fills LINE_TEMPLATE the same way)."""
    extra = b',"fields":' + orjson.dumps(fields) if fields else b""
    extra += b',"raw":1' if raw else b""
    return LINE_TEMPLATE % (ns, orjson.dumps(host), orjson.dumps("src"), extra, b'{"a":1}')


@given(
    st.integers(10**18, 10**19 - 1),
    st.none() | st.text(max_size=8),
    st.none() | st.dictionaries(st.sampled_from(["env", "user", "#tag"]), st.text(max_size=4)),
    st.booleans(),
)
def test_the_positional_read_of_meta_agrees_with_parsing_it(
    ns: int, host: str | None, fields: dict[str, str] | None, raw: bool
) -> None:
    """The data feed reads a fixed-width META by position (time in ms, then the rest from
    ``,"host":``) and spots the raw flag by its tail; parsing the line must say the same."""
    line = _ingest_line(ns, host, fields, raw)
    meta_text = line.partition(SEPARATOR)[0]
    meta, event = split_line(line)
    assert event == b'{"a":1}'
    assert meta_text.startswith(META_HEAD) and meta["time"] == ns
    assert int(meta_text[META_MILLIS]) == ns // 1_000_000
    rest = meta_text[META_REST]
    assert rest.startswith(b',"host":')
    assert orjson.loads(b"{" + rest[1:]) == {k: v for k, v in meta.items() if k != "time"}
    assert meta_text.endswith(RAW_TAIL) == (RAW_KEY in meta_text) == raw == (meta.get("raw") == 1)
