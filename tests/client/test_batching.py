"""Cutting events into batches, and compression."""

from __future__ import annotations

import gzip

import orjson
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from lakehose.client.hec.batching import compress, iter_batches


@settings(deadline=None)
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


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.text(max_size=12)
    | st.sampled_from(["},{", '"},{"', "\n"]),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.dictionaries(st.text(max_size=6), json_values, max_size=4), max_size=60),
    st.integers(min_value=1, max_value=20),
    st.integers(min_value=1, max_value=600),
)
def test_json_batches_hold_every_event_once_in_order(
    events: list[dict[str, object]], max_events: int, max_bytes: int
) -> None:
    batches = list(iter_batches(events, max_events=max_events, max_bytes=max_bytes))
    decoded = [orjson.loads(line) for b in batches for line in b.lines(0, b.count).splitlines()]
    assert decoded == events
    assert [b.first for b in batches] == [
        sum(b.count for b in batches[:i]) for i in range(len(batches))
    ]
    for b in batches:
        assert 1 <= b.count <= max_events
        assert len(b.body) <= max_bytes or b.count == 1
        # any run of events is a slice (what a resend after invalid-event-number sends)
        assert [orjson.loads(x) for x in b.lines(1, b.count).splitlines()] == decoded[
            b.first + 1 : b.first + b.count
        ]


def test_an_event_that_cannot_be_encoded_does_not_lose_its_neighbours() -> None:
    events = [{"a": 1}, {"b": object()}, {"c": 3}, {"d": 4}]
    batches = list(iter_batches(events, max_events=10, max_bytes=1000))
    assert [(b.first, b.count, b.error is not None) for b in batches] == [
        (0, 1, False),
        (1, 1, True),
        (2, 2, False),
    ]
    assert batches[2].body == b'{"c":3}\n{"d":4}\n'


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
