"""Fuzzed HEC bodies through the ``/event`` and ``/raw`` decoders, with no server.

Whatever the bytes, a decoder returns the valid prefix and at most one rejection
with a HEC code; it never raises. What it stores can be read back by every
reader (orjson, at a depth orjson can write again), with a time inside int64.
The fast path (msgspec) and the exact path (orjson, then the stdlib scanner)
agree: a body with a broken line appended takes the exact path and must store
the same events and stop at the same place.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lakehose.parsers.formats import ParserRegistry
from lakehose.parsers.hec import (
    CODES,
    MAX_DEPTH,
    IngestContext,
    Normalised,
    Reject,
    _fast_envelopes,
    decode_events,
    decode_raw,
)
from lakehose.parsers.timestamps import MAX_SECONDS
from tests.fuzz.budgetkit import VARIANTS, fuzz_settings, tried
from tests.fuzz.strategies import SPECIAL_BODIES, any_body, event_bodies

MAX_NS = MAX_SECONDS * 1_000_000_000
REGISTRY = ParserRegistry.build(
    {
        "fw": {"type": "kv", "time_field": "ts", "sourcetypes": ["kv:ts"]},
        "words": {"type": "regex", "pattern": r"^(?P<ts>\S+) (?P<word>\w+)", "time_field": "ts"},
        "iso": {"type": "kv", "time_field": "ts", "time_format": "iso8601"},
    }
)
# rejections a body can earn (auth, channel and server codes come from elsewhere)
BODY_CODES = {5, 6, 7, 12, 13, 15}


def ctx(parser: str | None = None) -> IngestContext:
    return IngestContext(
        connector="c",
        index="main",
        sourcetype="httpevent",
        source="http:c",
        host=None,
        now_ns=1_700_000_000_000_000_000,
        allowed_index=lambda name: name in ("main", "sec"),
        extract=REGISTRY.extractor(parser),
        # No per-event size limit here: it is measured on the text an event arrived as,
        # which the exact path re-serialises, so the two paths may disagree right at the
        # limit; max_event_size has its own tests (tests/server/test_real_senders.py).
        max_event_size=1 << 40,
    )


def nesting(value: Any) -> int:
    depth, level = 0, [value]
    while True:
        containers = [v for v in level if type(v) in (dict, list)]
        if not containers:
            return depth
        depth += 1
        level = [c for v in containers for c in (v.values() if type(v) is dict else v)]


def stored(out: Normalised) -> list[tuple[dict[str, Any], Any]]:
    """Every stored line, read back as readers do; asserts what every reader relies on."""
    rows = []
    for sl in out.slices:
        assert sl.lines and sl.min_time <= sl.max_time
        orjson.dumps([sl.connector, sl.index, sl.sourcetype])  # tags are valid UTF-8
        for line in sl.lines:
            assert b"\n" not in line
            meta_json, tab, event_json = line.partition(b"\t")
            assert tab
            meta = orjson.loads(meta_json)
            assert type(meta["time"]) is int and 0 <= meta["time"] <= MAX_NS
            assert sl.min_time <= meta["time"] <= sl.max_time
            event = orjson.loads(event_json)
            assert nesting(event) <= MAX_DEPTH
            orjson.dumps({"resources": [{"event": event, "fields": meta.get("fields")}]})
            rows.append((meta, event))
    assert sum(len(sl.lines) for sl in out.slices) == out.count
    return rows


def check_rejection(out: Normalised, rejection: Reject | None) -> None:
    if rejection is None:
        assert out.count > 0
        return
    assert rejection.code in BODY_CODES and CODES[rejection.code][0] == 400
    # Splunk's prefix semantics: everything before the bad event is stored
    assert rejection.index is None or rejection.index == out.count
    if rejection.index is None:
        assert out.count == 0


def check_event_body(body: bytes, parser: str | None = None) -> None:
    out, rejection = decode_events(body, ctx(parser))
    check_rejection(out, rejection)
    rows = stored(out)
    if _fast_envelopes(body) is None:
        return
    # the same envelopes through the exact path: a broken last line forces it
    out2, rejection2 = decode_events(body + b"\n}", ctx(parser))
    assert stored(out2) == rows
    assert rejection2 is not None
    if rejection is None or rejection.code == 5:  # all stored, or nothing to store
        expected: tuple[int, int | None] = (6, out.count)
    else:
        expected = (rejection.code, rejection.index)
    assert (rejection2.code, rejection2.index) == expected


def check_raw_body(body: bytes, parser: str | None = None) -> None:
    out, rejection = decode_raw(body, ctx(parser))
    lines = [line for line in body.splitlines() if line.strip()]
    if rejection is not None:
        assert (rejection.code, rejection.index, out.count) == (5, None, 0)
    assert out.count == len(lines)
    stored(out)


parsers = st.sampled_from([None, "kv", "syslog", "json", "fw", "words", "iso"])


@pytest.mark.parametrize("variant", VARIANTS)
def test_event_bodies_decode_to_a_readable_prefix_and_one_hec_code(variant: str) -> None:
    @fuzz_settings(variant, 250)
    @given(event_bodies(), parsers)
    def run(body: bytes, parser: str | None) -> None:
        tried("parsers/hec-event")
        check_event_body(body, parser)

    run()


@pytest.mark.parametrize("variant", VARIANTS)
def test_any_bytes_to_either_decoder_never_raise(variant: str) -> None:
    @fuzz_settings(variant, 300)
    @given(any_body(), parsers)
    def run(body: bytes, parser: str | None) -> None:
        tried("parsers/hec-any")
        check_event_body(body, parser)
        check_raw_body(body, parser)

    run()


@pytest.mark.parametrize("variant", VARIANTS)
def test_raw_lines_split_on_any_line_ending_one_event_each(variant: str) -> None:
    line = st.binary(max_size=40).filter(lambda b: b"\n" not in b and b"\r" not in b)

    @fuzz_settings(variant, 300)
    @given(st.lists(line, max_size=8), st.sampled_from([b"\n", b"\r\n", b"\r"]), parsers)
    def run(lines: list[bytes], newline: bytes, parser: str | None) -> None:
        tried("parsers/hec-raw-lines")
        check_raw_body(newline.join(lines), parser)

    run()


@pytest.mark.parametrize("body", SPECIAL_BODIES, ids=lambda b: repr(b[:24]))
def test_known_nasty_bodies_get_a_readable_prefix_or_a_hec_code(body: bytes) -> None:
    tried("parsers/hec-special", 2)
    check_event_body(body)
    check_raw_body(body)
