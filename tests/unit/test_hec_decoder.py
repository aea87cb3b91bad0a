"""The /event and /raw body decoders, table-driven and property-based (no server)."""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from lakehose.parsers.formats import ParserRegistry
from lakehose.parsers.hec import IngestContext, decode_events, decode_raw
from lakehose.storage.records import split_line


def ctx(**kw: Any) -> IngestContext:
    base: dict[str, Any] = dict(
        connector="c",
        index="main",
        sourcetype="httpevent",
        source="http:c",
        host=None,
        now_ns=1,
        allowed_index=lambda i: i in ("main", "sec"),
        extract=ParserRegistry.build().extractor(None),
    )
    base.update(kw)
    return IngestContext(**base)


def events_of(body: bytes) -> tuple[list[Any], Any]:
    out, rej = decode_events(body, ctx())
    decoded = [orjson.loads(split_line(line)[1]) for s in out.slices for line in s.lines]
    return decoded, rej and (rej.code, rej.index)


json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
envelopes = st.fixed_dictionaries(
    {"event": json_values.filter(lambda v: v is not None and v != "")},
    optional={
        "host": st.text(min_size=1, max_size=10),
        "time": st.integers(0, 4_000_000_000),
        "fields": st.dictionaries(st.text(max_size=5), json_scalars, max_size=3),
    },
)
separators = st.sampled_from(["", "\n", "\r\n", " ", "\n\n", "\t"])


@settings(max_examples=200, deadline=None)
@given(st.lists(envelopes, min_size=1, max_size=12), separators, st.booleans())
def test_any_framing_of_valid_envelopes_round_trips_every_event_in_order(
    envs: list[dict[str, Any]], sep: str, pretty: bool
) -> None:
    body = sep.join(json.dumps(e, indent=2 if pretty else None) for e in envs).encode()
    decoded, rejection = events_of(body)
    assert rejection is None
    assert decoded == [e["event"] for e in envs]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(envelopes, min_size=1, max_size=8),
    st.integers(0, 7),
    st.sampled_from(
        [
            '{"event":""}',
            '{"event":null}',
            '{"x":1}',
            '{"event":"a","time":"t"}',
            '{"event":"a"',
            "[1]",
        ]
    ),
)
def test_a_bad_envelope_stops_exactly_there(envs: list[dict[str, Any]], at: int, bad: str) -> None:
    at = min(at, len(envs))
    parts = [json.dumps(e) for e in envs]
    parts.insert(at, bad)
    decoded, rejection = events_of("\n".join(parts).encode())
    assert rejection is not None and rejection[1] == at
    assert decoded == [e["event"] for e in envs[:at]]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(body: bytes) -> None:
    out, rejection = decode_events(body, ctx())
    assert rejection is not None or out.count > 0
    out, rejection = decode_raw(body, ctx())
    assert rejection is not None or out.count > 0
    for s in out.slices:
        for line in s.lines:
            meta, event = split_line(line)
            orjson.loads(event)


@given(
    st.lists(
        st.text(
            alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n"),
            min_size=1,
            max_size=30,
        ).filter(lambda t: t.encode().strip()),
        min_size=1,
        max_size=10,
    ),
    st.sampled_from(["\n", "\r\n", "\r"]),
)
def test_raw_lines_round_trip(lines: list[str], newline: str) -> None:
    out, rejection = decode_raw(newline.join(lines).encode(), ctx())
    assert rejection is None
    stored = [split_line(line)[1] for s in out.slices for line in s.lines]
    assert len(stored) == len(lines)
    for text, event_json in zip(lines, stored, strict=True):
        value = orjson.loads(event_json)
        stripped = text.encode().strip()  # ASCII whitespace only, as the server strips
        assert value == stripped.decode() or (isinstance(value, dict) and event_json == stripped)


def test_record_lines_have_no_newlines_and_split_at_the_first_tab() -> None:
    body = b'{"event": {"a":\t1, "b": "x\\ny"}, "host": "h\\tx"}'
    out, rejection = decode_events(body, ctx())
    assert rejection is None
    (line,) = out.slices[0].lines
    assert b"\n" not in line
    meta, event = split_line(line)
    assert meta["host"] == "h\tx"
    assert orjson.loads(event) == {"a": 1, "b": "x\ny"}


def test_slices_break_where_index_or_sourcetype_change() -> None:
    body = b'{"event":1}{"event":2,"index":"sec"}{"event":3,"index":"sec"}{"event":4,"sourcetype":"x","index":"sec"}{"event":5}'
    out, rejection = decode_events(body, ctx())
    assert rejection is None
    assert [(s.index, s.sourcetype, len(s)) for s in out.slices] == [
        ("main", "httpevent", 1),
        ("sec", "httpevent", 2),
        ("sec", "x", 1),
        ("main", "httpevent", 1),
    ]
