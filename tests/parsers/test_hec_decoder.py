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


# -- envelope rules, row by row, on both paths (the msgspec fast path and the exact path) --


def decoded(body: bytes, **kw: Any) -> tuple[list[Any], list[dict[str, Any]], Any]:
    out, rej = decode_events(body, ctx(**kw))
    lines = [split_line(line) for s in out.slices for line in s.lines]
    events = [orjson.loads(event) for _, event in lines]
    return events, [meta for meta, _ in lines], rej and (rej.code, rej.index, rej.detail)


@pytest.mark.parametrize(
    ("body", "events", "rejection"),
    [
        (b'{"event":1}\xff', [1], (6, 1, "Expecting value: line 1 column 12 (char 11)")),
        (
            b'{"event":1} \xff {"event":2}',
            [1],
            (6, 1, "Expecting value: line 1 column 13 (char 12)"),
        ),
        (b'{"event":"\xff"}', ["\ufffd"], None),  # inside a string: replaced, not refused
        (b'{"event":1,"host":true}', [], (6, 0, "host must be a string")),
        (b'{"event":1,"source":false}', [], (6, 0, "source must be a string")),
        (b'{"event":1,"sourcetype":[]}', [], (6, 0, "sourcetype must be a string")),
        (b'{"event":1,"index":{}}', [], (6, 0, "index must be a string")),
        (b'{"event":1,"index":7}', [], (7, 0, "index '7' is not allowed for this connector")),
        (
            b'{"event":1,"index":"nope"}',
            [],
            (7, 0, "index 'nope' is not allowed for this connector"),
        ),
        (b'{"event":1,"time":"abc"}', [], (6, 0, "time 'abc' is not a number of epoch seconds")),
        (b'{"event":1,"time":[1]}', [], (6, 0, "time must be a number or a numeric string")),
        (b'{"event":1,"time":true}', [], (6, 0, "time must be a number or a numeric string")),
        (
            b'{"event":1,"time":-1}',
            [],
            (6, 0, "time must not be negative"),
        ),
        (b'{"event":1,"fields":[1]}', [], (6, 0, "fields must be an object")),
        (
            b'{"event":1,"fields":{"a":{"b":1}}}',
            [],
            (15, 0, "indexed field values cannot be objects"),
        ),
        (
            b'{"event":1,"fields":{"a":[[1]]}}',
            [],
            (15, 0, "indexed field arrays hold scalars only"),
        ),
        (
            b'{"event":1,"fields":{"a":[{"b":1}]}}',
            [],
            (15, 0, "indexed field arrays hold scalars only"),
        ),
        (b'{"event":1,"fields":{"a":[1,"x",null,true]}}', [1], None),
        (b'{"fields":{"a":1}}', [{}], None),  # fields alone make an empty event
        (b'{"event":null}', [], (12, 0, "")),
        (b'{"event":""}', [], (13, 0, "")),
        (b'{"host":"h"}', [], (12, 0, "")),
        (b"{}", [], (12, 0, "")),
        (b"[1]", [], (6, 0, "an event envelope must be a JSON object")),
        (b'"x"', ["x"], None),  # a body that is one JSON string is raw text
        (b"[]", [], (5, None, "")),
        (b" \n ", [], (5, None, "")),
        (b'[{"event":1},{"event":2}]', [1, 2], None),
        (b'[{"event":1}]\n[{"event":2},{"event":""}]', [1, 2], (13, 2, "")),
    ],
)
def test_envelope_rules(body: bytes, events: list[Any], rejection: Any) -> None:
    assert decoded(body)[::2] == (events, rejection)
    if rejection is not None and rejection[1] is not None and b"\xff" not in body:
        # the same envelope behind a good one and before a broken line: the exact path
        shifted = (rejection[0], rejection[1] + 1, rejection[2])
        assert decoded(b'{"event":0}\n' + body + b"\n}")[::2] == ([0, *events], shifted)


@pytest.mark.parametrize(
    ("member", "meta"),
    [
        (b'"host":5', {"host": "5"}),  # numbers are taken as their text
        (b'"host":1.5', {"host": "1.5"}),
        (b'"host":"h"', {"host": "h"}),
        (b'"source":"s"', {"source": "s"}),
        (b'"source":""', {"source": "http:c"}),  # blank is the default
        (b'"source":7', {"source": "7"}),
        (b'"time":1.5', {"time": 1_500_000_000}),
        (b'"time":"1.5"', {"time": 1_500_000_000}),
        (b'"time":0', {"time": 0}),
        (b'"time":0.0', {"time": 0}),
        (b'"time":8999999999.5', {"time": 8_999_999_999_500_000_000}),  # the float fast path
        (b'"time":9e9', {"time": 9 * 10**18}),  # past it: the general path, same rule
        (b'"time":1700000000.1234567', {"time": 1_700_000_000_123_457_000}),
        (b'"fields":{"a":1}', {"fields": {"a": 1}}),
        (b'"fields":{}', {}),
    ],
)
def test_envelope_metadata(member: bytes, meta: dict[str, Any]) -> None:
    base = {"time": 1, "host": None, "source": "http:c"}
    for body in (b'{"event":1,' + member + b"}", b'{"event":1,' + member + b"}\n}"):
        events, metas, _ = decoded(body)
        assert events == [1] and metas == [{**base, **meta}]


@pytest.mark.parametrize(
    ("member", "index", "sourcetype"),
    [
        (b'"index":"sec"', "sec", "httpevent"),
        (b'"index":""', "main", "httpevent"),
        (b'"index":"main"', "main", "httpevent"),
        (b'"sourcetype":"st"', "main", "st"),
        (b'"sourcetype":""', "main", "httpevent"),
        (b'"sourcetype":"st","index":"sec"', "sec", "st"),
    ],
)
def test_index_and_sourcetype_pick_the_slice(member: bytes, index: str, sourcetype: str) -> None:
    for body in (b'{"event":1,' + member + b"}", b'{"event":1,' + member + b"}\n}"):
        out, _ = decode_events(body, ctx())
        assert [(s.index, s.sourcetype, len(s)) for s in out.slices] == [(index, sourcetype, 1)]


def test_the_default_index_needs_no_permission() -> None:
    out, rejection = decode_events(
        b'{"event":1,"index":"main"}', ctx(allowed_index=lambda i: False)
    )
    assert rejection is None and out.count == 1


@pytest.mark.parametrize(
    ("event", "time"),
    [
        (b'{"timestamp":1700000000000,"timeunit":"ms"}', 1_700_000_000 * 10**9),
        (b'{"timestamp":1700000000}', 1_700_000_000 * 10**9),
        (b'{"timestamp":"soon"}', 1),  # unusable: the request's time
        (b'{"timestamp":0}', 1),  # zero is no time either
        (b'{"x":"\\"timestamp\\""}', 1),  # the word in a value is no member
        (b'["timestamp", 1700000000]', 1),
        (b'"timestamp 1700000000"', 1),
    ],
)
def test_falconpy_timestamps_in_the_event_set_its_time(event: bytes, time: int) -> None:
    for body in (b'{"event":' + event + b"}", b'{"event":' + event + b"}\n}"):
        assert decoded(body)[1][0]["time"] == time


def test_envelope_time_wins_over_a_timestamp_in_the_event() -> None:
    body = b'{"event":{"timestamp":1700000000},"time":5}'
    assert decoded(body)[1][0]["time"] == 5 * 10**9


def test_nesting_depth_boundary_on_both_paths() -> None:
    """MAX_DEPTH levels fit; one more is code 6, also when the event is exactly that short."""
    fits = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    deep = b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1)
    for body, expected in ((fits, None), (deep, 6)):
        for framed in (b'{"event":' + body + b"}", b'{"event":' + body + b"}\n}"):
            events, _, rejection = decoded(framed)
            assert (rejection and rejection[0]) == expected or (
                expected is None and rejection == (6, 1, rejection[2])
            )
            assert len(events) == (expected is None)


@pytest.mark.parametrize(
    ("number", "stored"),
    [
        (2**63 - 1, 2**63 - 1),  # int64 is kept exact on the fast path
        (-(2**63), -(2**63)),
        (-(2**63) - 1, float(-(2**63) - 1)),  # past it: as orjson reads it, a float
        (2**63, 2**63),  # ... which reads up to uint64 as an int
        (2**64, float(2**64)),
    ],
)
def test_integer_fields_at_the_int64_boundary(number: int, stored: Any) -> None:
    events, metas, rejection = decoded(b'{"event":1,"fields":{"n":%d}}' % number)
    assert rejection is None and metas[0]["fields"] == {"n": stored}
    assert type(metas[0]["fields"]["n"]) is type(stored)


def test_rejections_carry_splunk_texts() -> None:
    from lakehose.parsers.hec import CODES, Reject

    assert CODES[8] == (500, "Internal server error")
    assert CODES[20] == (503, "HEC is unhealthy, queues are full, ack service unavailable")
    assert str(Reject(8)) == "HEC code 8 at event None: Internal server error"
    rejection = Reject(20, 3)
    assert (rejection.code, rejection.index, rejection.detail) == (20, 3, "")
    assert str(rejection).endswith("queues are full, ack service unavailable")
    assert str(Reject(6, 1, "why")) == "HEC code 6 at event 1: why"


# -- string events through the named parsers, and /raw lines -------------------------------

FW = ParserRegistry.build({"fw": {"type": "kv", "time_field": "ts"}})
BASE = {"time": 1, "host": None, "source": "http:c"}


def stored(out: Any) -> list[tuple[dict[str, Any], Any]]:
    return [(m, orjson.loads(e)) for s in out.slices for m, e in map(split_line, s.lines)]


@pytest.mark.parametrize(
    ("body", "kw", "meta", "event"),
    [
        (b'{"event":"a=1 b=2","sourcetype":"kv"}', {}, {"fields": {"a": "1", "b": "2"}}, "a=1 b=2"),
        (b'{"event":"a=1 b=2"}', {}, {}, "a=1 b=2"),  # no parser for httpevent
        (b'{"event":"{\\"x\\":1}"}', {}, {"fields": {"x": 1}}, '{"x":1}'),  # JSON text: auto
        (b'{"event":"a=1","sourcetype":"kv","fields":{"a":"env","c":3}}', {},
         {"fields": {"a": "env", "c": 3}}, "a=1"),  # the envelope's fields win
        (b'{"event":{"a":1},"sourcetype":"kv"}', {}, {}, {"a": 1}),  # objects are not parsed
        (b'{"event":"no pairs","sourcetype":"kv"}', {}, {}, "no pairs"),
        (b'{"event":"a=1"}', {"extract": FW.extractor("kv")}, {"fields": {"a": "1"}}, "a=1"),
        (b'{"event":"a=1","sourcetype":"kv"}', {"extract": None}, {}, "a=1"),
        (b'{"event":"ts=1700000000 a=1","sourcetype":"fw"}', {"extract": FW.extractor(None)},
         {"time": 1_700_000_000 * 10**9, "fields": {"ts": "1700000000", "a": "1"}},
         "ts=1700000000 a=1"),
        (b'{"event":"ts=1700000000 a=1","sourcetype":"fw","time":5}',
         {"extract": FW.extractor(None)},
         {"time": 5 * 10**9, "fields": {"ts": "1700000000", "a": "1"}},
         "ts=1700000000 a=1"),  # the envelope's time wins
        (b'{"event":{"a":"timestamp"}}', {}, {}, {"a": "timestamp"}),
    ],
)  # fmt: skip
def test_string_events_go_through_their_parser(
    body: bytes, kw: dict[str, Any], meta: dict[str, Any], event: Any
) -> None:
    for framed in (body, body + b"\n}"):
        out, _ = decode_events(framed, ctx(**kw))
        assert stored(out) == [({**BASE, **meta}, event)]


@pytest.mark.parametrize(
    ("body", "kw", "rows"),
    [
        (b'a=1\r\n{"k":1}\n\n  plain  \n', {"sourcetype": "kv"},
         [({"fields": {"a": "1"}}, "a=1"), ({"raw": 1}, {"k": 1}), ({}, "plain")]),
        (b"a=1\nx", {"fields": {"a": "q", "z": 1}, "sourcetype": "kv"},
         [({"fields": {"a": "q", "z": 1}}, "a=1"), ({"fields": {"a": "q", "z": 1}}, "x")]),
        (b'{"a":1}', {"fields": {"q": 1}}, [({"fields": {"q": 1}, "raw": 1}, {"a": 1})]),
        (b"ts=1700000000 a=1", {"sourcetype": "fw", "extract": FW.extractor(None)},
         [({"time": 1_700_000_000 * 10**9, "fields": {"ts": "1700000000", "a": "1"}},
           "ts=1700000000 a=1")]),
        (b"ts=1700000000 a=1", {"sourcetype": "fw", "extract": FW.extractor(None), "time_ns": 7},
         [({"time": 7, "fields": {"ts": "1700000000", "a": "1"}}, "ts=1700000000 a=1")]),
        (b"a=1", {"time_ns": 7, "extract": None, "sourcetype": "kv"}, [({"time": 7}, "a=1")]),
        (b'{"k":1', {"sourcetype": "kv"}, [({}, '{"k":1')]),
        (b"[1]", {}, [({}, "[1]")]),  # only objects are kept as JSON
        (b"\xffa", {}, [({}, "\ufffda")]),
    ],
)  # fmt: skip
def test_raw_lines(body: bytes, kw: dict[str, Any], rows: list[tuple[dict[str, Any], Any]]) -> None:
    out, rejection = decode_raw(body, ctx(**kw))
    assert rejection is None
    assert stored(out) == [({**BASE, **meta}, event) for meta, event in rows]


def test_a_blank_raw_body_is_no_data() -> None:
    out, rejection = decode_raw(b" \n\r\n ", ctx())
    assert out.count == 0 and rejection is not None and rejection.code == 5


def test_counts_sizes_and_time_bounds_of_slices() -> None:
    body = b'{"event":1,"time":3}{"event":2,"time":1}{"event":3,"time":2}{"event":4,"index":"sec"}'
    out, rejection = decode_events(body, ctx())
    assert rejection is None and out.count == 4
    lines = [line for s in out.slices for line in s.lines]
    assert out.nbytes == sum(len(line) + 1 for line in lines)  # one newline each
    first, second = out.slices
    assert (first.min_time, first.max_time, len(first)) == (10**9, 3 * 10**9, 3)
    assert first.nbytes == sum(len(line) + 1 for line in first.lines)
    assert (second.min_time, second.max_time, second.connector) == (1, 1, "c")


@pytest.mark.parametrize(
    ("time", "message"),
    [
        (b"-1.5", "time must be a finite, non-negative number"),
        (b"9223372037.0", "time is beyond the year 2262"),
        (b"1e10", "time is beyond the year 2262"),
    ],
)
def test_float_times_outside_the_lake_are_refused(time: bytes, message: str) -> None:
    for body in (b'{"event":"x","time":' + time + b"}", b'{"event":"x","time":' + time + b"}\n}"):
        assert decoded(body)[::2] == ([], (6, 0, message))


# Splunk's HEC codes with their HTTP status and exact text (specs/hec-protocol.md §4).
SPLUNK_CODES = """
0 200 Success
1 403 Token disabled
2 401 Token is required
3 401 Invalid authorization
4 403 Invalid token
5 400 No data
6 400 Invalid data format
7 400 Incorrect index
8 500 Internal server error
9 503 Server is busy
10 400 Data channel is missing
11 400 Invalid data channel
12 400 Event field is required
13 400 Event field cannot be blank
14 400 ACK is disabled
15 400 Error in handling indexed fields
16 400 Query string authorization is not enabled
17 200 HEC is healthy
18 503 HEC is unhealthy, queues are full
19 503 HEC is unhealthy, ack service unavailable
20 503 HEC is unhealthy, queues are full, ack service unavailable
23 503 Server is shutting down
"""


def test_every_code_has_splunks_status_and_text() -> None:
    from lakehose.parsers.hec import CODES

    expected = {}
    for row in SPLUNK_CODES.strip().splitlines():
        code, status, text = row.split(" ", 2)
        expected[int(code)] = (int(status), text)
    assert CODES == expected


@pytest.mark.parametrize("body", [b"[] []", b"[]\n[]", b"[]\n\n[] "])
def test_bodies_of_empty_arrays_are_no_data(body: bytes) -> None:
    assert decoded(body)[::2] == ([], (5, None, ""))


def test_an_event_object_s_own_host_is_its_host_on_both_paths() -> None:
    body = b'{"event":{"host":"web1","m":1}}{"event":{"host":"","m":2}}{"event":"host"}'
    for tail in (b"", b"\n}"):  # the fast path, and the exact one (the broken line forces it)
        out, _ = decode_events(body + tail, ctx())
        assert [m["host"] for m, _ in stored(out)] == ["web1", None, None]
        out, _ = decode_events(body + tail, ctx(host="req"))  # a request host wins
        assert [m["host"] for m, _ in stored(out)] == ["req", "req", "req"]


@pytest.mark.parametrize("tail", [b"", b"\n}"])
def test_an_event_of_exactly_max_event_size_is_taken(tail: bytes) -> None:
    body = b'{"event":"12345678"}{"event":"123456789"}'  # JSON texts of 10 and 11 bytes
    out, rejection = decode_events(body + tail, ctx(max_event_size=10))
    assert [e for _, e in stored(out)] == ["12345678"]
    assert rejection is not None and (rejection.code, rejection.index) == (6, 1)


def test_a_raw_line_s_own_host_or_parsed_hostname_is_its_host() -> None:
    body = b'{"host":"web1"}\n{"host":""}\n{"host":5}\nhostname=web2 a=1\nhostname= a=2'
    out, rejection = decode_raw(body, ctx(sourcetype="kv"))
    assert rejection is None
    assert [m["host"] for m, _ in stored(out)] == ["web1", None, None, "web2", None]
    out, _ = decode_raw(body, ctx(sourcetype="kv", host="req"))  # a request host wins
    assert {m["host"] for m, _ in stored(out)} == {"req"}
