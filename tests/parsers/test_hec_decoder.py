"""The /event and /raw body decoders, table-driven and property-based (no server)."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lakehose.parsers.formats import ParserRegistry
from lakehose.parsers.hec import MAX_DEPTH, IngestContext, decode_events, decode_raw
from lakehose.records import split_line


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


# -- hostile input found by tests/fuzz (each was a 500, or stored what readers cannot read) --


def both_paths(body: bytes) -> list[tuple[list[Any], Any]]:
    """The result on the fast path, and on the exact path (a broken line appended forces it)."""
    first = events_of(body)
    decoded, rejection = events_of(body + b"\n}")
    if rejection == (6, len(decoded)) and first[1] is None:
        rejection = None  # the appended line's own rejection
    return [first, (decoded, rejection)]


@pytest.mark.parametrize(
    "event",
    [
        b"1e400",
        b'{"a":[-1.5E+400]}',
        b'{"timestamp":1e400}',
        b"1" + b"0" * 400,
        b"[1e0999]",
    ],
)
def test_numbers_beyond_a_double_are_refused_with_code_6_on_both_paths(event: bytes) -> None:
    """msgspec kept such a number's text, which orjson (every reader) cannot parse: a search
    listing failed with 400 and a flatjson data feed stopped at that offset for good."""
    body = b'{"event":"before"}\n{"event":' + event + b'}\n{"event":"after"}'
    for decoded, rejection in both_paths(body):
        assert (decoded, rejection) == (["before"], (6, 1))


@pytest.mark.parametrize("event", [b'"1e400 in a string"', b"1e100", b"%d" % 2**200, b"1e-400"])
def test_numbers_a_double_holds_and_lookalikes_are_accepted(event: bytes) -> None:
    for decoded, rejection in both_paths(b'{"event":' + event + b"}"):
        assert rejection is None and decoded == [orjson.loads(event)]


def test_events_nested_deeper_than_the_limit_are_refused_with_code_6_on_both_paths() -> None:
    """The fast path kept up to ~1,000 levels; a search reply holding one failed with 500."""
    fits = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    deep = b'{"a":' * (MAX_DEPTH + 1) + b"1" + b"}" * (MAX_DEPTH + 1)
    for decoded, rejection in both_paths(b'{"event":' + fits + b'}\n{"event":' + deep + b"}"):
        assert len(decoded) == 1 and rejection == (6, 1)


def test_a_raw_line_of_json_nested_too_deeply_is_kept_as_text() -> None:
    line = b'{"a":' * 300 + b"1" + b"}" * 300
    out, rejection = decode_raw(line, ctx())
    assert rejection is None
    meta, event_json = split_line(out.slices[0].lines[0])
    assert orjson.loads(event_json) == line.decode() and "raw" not in meta


@pytest.mark.parametrize(
    "member",
    [
        b'"host":"\\ud800"',
        b'"source":"\\udc00"',
        b'"sourcetype":"\\ud800"',
        b'"fields":{"\\ud800":1}',
        b'"fields":{"k":["\\udfff"]}',
    ],
)
def test_lone_surrogates_in_metadata_are_refused_with_code_6(member: bytes) -> None:
    """The exact path's stdlib scanner lets lone surrogates through: a host made a 500."""
    body = b'{"event":"ok"}\n{"event":1,' + member + b"}\n{}{"
    assert events_of(body) == (["ok"], (6, 1))


def test_an_integer_field_beyond_64_bits_is_stored_as_orjson_reads_it() -> None:
    """It made a 500 (orjson cannot write it); now it reads as a float, as in an event."""
    out, rejection = decode_events(b'{"event":1,"fields":{"n":%d}}' % 2**200, ctx())
    assert rejection is None
    meta, _ = split_line(out.slices[0].lines[0])
    assert meta["fields"] == {"n": float(2**200)}
