"""Cutting events into batches, and compression."""

from __future__ import annotations

import gzip

import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st

from lakehose.client._batching import compress, iter_batches


@given(
    st.lists(
        st.text(st.characters(exclude_characters="\n\r", exclude_categories=["Cs"]), max_size=40),
        max_size=200,
    ),
    st.integers(min_value=1, max_value=50),
    st.integers(min_value=1, max_value=400),
)
def test_batches_keep_every_event_once_in_order_within_both_limits(
    texts: list[str], max_events: int, max_bytes: int
) -> None:
    batches = list(
        iter_batches(texts, as_json=False, max_events=max_events, max_bytes=max_bytes, raw=True)
    )
    lines = [line for b in batches for line in b.lines(0, b.count).split(b"\n")[:-1]]
    assert lines == [t.encode() for t in texts]
    expected_first = 0
    for b in batches:
        assert b.first == expected_first
        expected_first += b.count
        assert 1 <= b.count <= max_events
        assert len(b.body) <= max_bytes or b.count == 1


def test_text_that_is_not_utf8_encodable_is_an_error_batch_in_its_place() -> None:
    batches = list(iter_batches(["a", "\ud800", "b"], as_json=False, max_events=10, max_bytes=100))
    assert [(b.first, b.count, b.error is not None) for b in batches] == [
        (0, 1, False),
        (1, 1, True),
        (2, 1, False),
    ]


def test_any_run_of_a_batch_is_one_slice() -> None:
    (batch,) = iter_batches(["a", "bb", "ccc"], as_json=False, max_events=10, max_bytes=100)
    assert batch.lines(1, 3) == b"bb\nccc\n"
    assert batch.lines(0, 3) is batch.body


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_compressed_bodies_decompress_to_the_original(compression: str) -> None:
    body = b'{"event":"x"}\n' * 1000
    packed = compress(body, compression)
    assert len(packed) < len(body) / 10
    if compression == "gzip":
        assert gzip.decompress(packed) == body
    else:
        assert zstandard.ZstdDecompressor().decompress(packed) == body


def test_no_compression_is_the_body_itself() -> None:
    assert compress(b"abc", None) == b"abc"
