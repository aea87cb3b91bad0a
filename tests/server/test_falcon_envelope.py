"""The envelope splicer: the fast byte path must produce exactly what decoding each line gives."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lakehose.errors import CorruptBatchError
from lakehose.models import BatchInfo
from lakehose.records import compress_lines, encode_line
from lakehose.server.replies import falcon as fe

FMT = fe.FeedFormat("7d1c0f5e9a2b4c6d8e0f1a2b3c4d5e6f")
T0 = 1767225600123456789


def batch(metas: list[dict[str, Any]], events: list[bytes], first: int = 100) -> BatchInfo:
    return BatchInfo(0, first, len(metas), T0, T0, T0 + 5, "default", "main", "httpevent", 1, 1)


def data(metas: list[dict[str, Any]], events: list[bytes]) -> bytes:
    return b"\n".join(encode_line(m, e) for m, e in zip(metas, events, strict=True))


def decoded(text: bytes) -> list[dict[str, Any]]:
    assert text.endswith(b"\r\n")
    return [orjson.loads(line) for line in text.split(b"\r\n")[:-1]]


def render(info: BatchInfo, raw: bytes, skip: int, fmt: fe.FeedFormat) -> bytes:
    return b"".join(fe.render(info, raw, skip, fmt))


def render_batch(info: BatchInfo, blob: bytes, from_offset: int, fmt: fe.FeedFormat) -> bytes:
    return b"".join(fe.render_batch(info, blob, from_offset, fmt))


def general(info: BatchInfo, raw: bytes, skip: int, fmt: fe.FeedFormat = FMT) -> bytes:
    return fe._render_general(info, raw, skip, fmt)


def test_a_batch_renders_to_falcon_lines_with_lakehose_metadata() -> None:
    metas = [
        {"time": T0, "host": "web-07", "source": "app.log"},
        {"time": T0 + 1_000_000, "host": None, "source": "s", "fields": {"env": "prod"}},
    ]
    events = [b'{"action":"login","user":"alice"}', b'"a text event"']
    info = batch(metas, events)
    lines = decoded(render(info, data(metas, events), 0, FMT))
    assert lines[0] == {
        "metadata": {
            "customerIDString": FMT.customer_id,
            "offset": 100,
            "eventType": "httpevent",
            "eventCreationTime": 1767225600123,
            "host": "web-07",
            "source": "app.log",
            "version": "1.0",
            "partition": 0,
            "connector": "default",
            "index": "main",
            "sourcetype": "httpevent",
        },
        "event": {"action": "login", "user": "alice"},
    }
    assert lines[1]["metadata"]["offset"] == 101
    assert lines[1]["metadata"]["eventCreationTime"] == 1767225600124
    assert lines[1]["metadata"]["fields"] == {"env": "prod"}
    assert lines[1]["event"] == {"@rawstring": "a text event"}


def test_the_event_bytes_are_spliced_unchanged() -> None:
    event = b'{"big":12345678901234567890123,"f":1.50,"s":"\\u00e9"}'
    metas = [{"time": T0, "host": "h", "source": "s"}]
    out = render(batch(metas, [event]), data(metas, [event]), 0, FMT)
    assert out.endswith(b',"event":' + event + b"}\r\n")


@pytest.mark.parametrize(
    "meta",
    [
        {"time": 5, "host": "h", "source": "s"},  # 1970: not 19 digits
        {"host": "h", "source": "s"},  # no time: the batch's ingest time
        {"time": T0},
        {"source": "s", "time": T0, "host": "h"},
        {"time": T0, "host": "h", "source": "s", "raw": 1},
    ],
    ids=["short-time", "no-time", "time-only", "other-order", "raw-flag"],
)
def test_unusual_metas_render_like_the_general_path(meta: dict[str, Any]) -> None:
    metas = [meta, {"time": T0, "host": "h", "source": "s"}]
    events = [b'{"a":1}', b'{"b":2}']
    info = batch(metas, events)
    raw = data(metas, events)
    assert decoded(render(info, raw, 0, FMT)) == decoded(general(info, raw, 0))
    first = decoded(render(info, raw, 0, FMT))[0]["metadata"]
    assert "raw" not in first and "time" not in first


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
event_values = st.dictionaries(st.text(max_size=6), json_values, max_size=4) | st.text(max_size=12)
meta_values = st.fixed_dictionaries(
    {
        "time": st.integers(min_value=10**18, max_value=10**19 - 1),
        "host": st.none() | st.text(max_size=6),
        "source": st.none() | st.text(max_size=6),
    },
    optional={
        "fields": st.dictionaries(st.text(max_size=4), st.text(max_size=4), min_size=1, max_size=3),
        "raw": st.just(1),
    },
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(meta_values, event_values), min_size=1, max_size=6),
    st.integers(min_value=0, max_value=7),
    st.booleans(),
)
def test_fast_and_general_paths_agree(
    rows: list[tuple[dict[str, Any], Any]], skip: int, flat: bool
) -> None:
    metas = [m for m, _ in rows]
    events = [orjson.dumps(e) for _, e in rows]
    info = batch(metas, events)
    raw = data(metas, events)
    fmt = fe.FeedFormat("cid", flat=flat)
    skip = min(skip, len(rows))
    fast = render(info, raw, skip, fmt)
    slow = general(info, raw, skip, fmt)
    assert (decoded(fast) if fast else []) == (decoded(slow) if slow else [])
    if fast:
        assert [e["metadata"]["offset"] for e in decoded(fast)] == list(
            range(100 + skip, 100 + len(rows))
        )


def test_render_batch_skips_offsets_before_the_one_asked_for() -> None:
    metas = [{"time": T0 + i, "host": "h", "source": "s"} for i in range(5)]
    events = [b'{"i":%d}' % i for i in range(5)]
    info = batch(metas, events, first=10)
    blob = compress_lines([encode_line(m, e) for m, e in zip(metas, events, strict=True)])
    assert [e["event"]["i"] for e in decoded(render_batch(info, blob, 13, FMT))] == [3, 4]
    assert render_batch(info, blob, 15, FMT) == b""


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (b'{"a":{"b":1}}', {"a.b": 1}),
        (b'{"a":[{"b":1},{"b":2}],"c":[1,2]}', {"a[0].b": 1, "a[1].b": 2, "c": [1, 2]}),
        (b'"text"', {"@rawstring": "text"}),
        (b"42", {"@rawstring": "42"}),
        (
            b'{"big":{"n":123456789012345678901234567890}}',
            {"big.n": 123456789012345678901234567890},
        ),
    ],
)
def test_flatjson_flattens_objects_and_wraps_text(event: bytes, expected: dict[str, Any]) -> None:
    assert json.loads(fe.flat_object(event)) == expected


@pytest.mark.parametrize("first", [0, 7, 995, 999_998, 1_000_000, 123_456_789_999])
def test_offsets_are_written_right_across_thousands(first: int) -> None:
    metas = [{"time": T0 + i, "host": "h", "source": "s"} for i in range(12)]
    events = [b'{"i":%d}' % i for i in range(12)]
    info = batch(metas, events, first=first)
    raw = data(metas, events)
    lines = decoded(render(info, raw, 0, FMT))
    assert [line["metadata"]["offset"] for line in lines] == list(range(first, first + 12))
    assert lines == decoded(general(info, raw, 0))
    assert b'"offset":0' not in render(info, raw, 0, FMT) or first == 0


def test_a_batch_with_the_wrong_line_count_is_reported_corrupt() -> None:
    metas = [{"time": T0, "host": "h", "source": "s"}] * 2
    events = [b'{"a":1}', b'{"a":2}']
    info = BatchInfo(0, 0, 3, T0, T0, T0, "default", "main", "httpevent", 1, 1)
    with pytest.raises(CorruptBatchError, match="2 lines, expected 3"):
        render(info, data(metas, events), 0, FMT)


@pytest.mark.parametrize("skip", [0, 1, 777, 1999])
def test_a_batch_larger_than_a_window_renders_in_chunks_like_the_general_path(skip: int) -> None:
    metas = [{"time": T0 + i * 1_000_000, "host": f"h{i % 7}", "source": "s"} for i in range(2000)]
    events = [orjson.dumps({"i": i, "pad": "x" * (i % 300)}) for i in range(2000)]
    info = batch(metas, events, first=998_500)
    raw = data(metas, events)
    assert len(raw) > 3 * fe.WINDOW_BYTES
    chunks = fe.render(info, raw, skip, FMT)
    assert (len(chunks) > 1 or skip > 1500) and all(c.endswith(b"}\r\n") for c in chunks)
    lines = decoded(b"".join(chunks))
    assert lines == decoded(general(info, raw, skip))
    assert [line["event"]["i"] for line in lines] == list(range(skip, 2000))
