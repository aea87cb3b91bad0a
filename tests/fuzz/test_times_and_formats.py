"""Fuzzed event times and the ``kv``, ``syslog`` and ``regex`` parsers, with no server.

A time parser gives an int64 count of ns since the epoch (0 to year 2262) or refuses
in its documented way; it never raises anything else. A parser gives fields that
can be stored (orjson writes them) or None, and an event time that fits the lake.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from lakehose.errors import QueryError
from lakehose.parsers.formats import ParserRegistry, parse_time_text
from lakehose.parsers.timestamps import MAX_SECONDS, BadTime, seconds_to_ns, timestamp_to_ns
from lakehose.query import time_range
from tests.fuzz.budgetkit import VARIANTS, fuzz_settings, tried

MAX_NS = MAX_SECONDS * 1_000_000_000
INT64 = 2**63 - 1

numeric_text = st.one_of(
    st.from_regex(r"\A\s?[+-]?\d{0,25}(\.\d{0,25})?([eE][+-]?\d{0,5})?\s?\Z"),
    st.sampled_from(
        ["nan", "NaN", "inf", "-inf", "Infinity", "1e400", "-0", "0x10", "1_000", "\u0661\u0662"]
    ),
    st.sampled_from(["9" * 5000, "1e-999999", "1e999999", "", " ", "\x00", "1\x00"]),
)
any_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-(2**300), 2**300),
    st.floats(),
    st.text(max_size=30),
    numeric_text,
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@pytest.mark.parametrize("variant", VARIANTS)
def test_hec_times_are_in_range_or_badtime(variant: str) -> None:
    @fuzz_settings(variant, 500)
    @given(any_value)
    def run(value: Any) -> None:
        tried("times/hec-time")
        try:
            ns = seconds_to_ns(value)
        except BadTime:
            return
        assert type(ns) is int and 0 <= ns <= MAX_NS

    run()


@pytest.mark.parametrize("variant", VARIANTS)
def test_decimal_time_strings_convert_exactly_to_the_nanosecond(variant: str) -> None:
    @fuzz_settings(variant, 300)
    @given(st.integers(0, MAX_SECONDS), st.text("0123456789", max_size=15), st.booleans())
    def run(whole: int, fraction: str, spaces: bool) -> None:
        tried("times/hec-time-exact")
        text = f"{whole}.{fraction}" if fraction else str(whole)
        expected = whole * 10**9 + int(fraction[:9].ljust(9, "0") or 0)
        if expected > MAX_NS:
            with pytest.raises(BadTime):
                seconds_to_ns(text)
            return
        assert seconds_to_ns(f" {text} " if spaces else text) == expected

    run()


@pytest.mark.parametrize("variant", VARIANTS)
def test_falconpy_timestamps_are_in_range_or_none(variant: str) -> None:
    units = st.one_of(st.none(), st.sampled_from(["ns", "us", "ms", "s", "seconds", "x", ""]))

    @fuzz_settings(variant, 500)
    @given(any_value, units | any_value)
    def run(value: Any, unit: Any) -> None:
        tried("times/falconpy-timestamp")
        ns = timestamp_to_ns(value, unit)
        assert ns is None or (type(ns) is int and 0 <= ns <= MAX_NS)

    run()


@pytest.mark.parametrize("variant", VARIANTS)
def test_parser_time_fields_give_an_int_or_none(variant: str) -> None:
    formats = st.sampled_from(
        [None, "auto", "epoch", "epoch_ms", "iso8601", "%Y-%m-%d", "%s", "%b %d %H:%M:%S", "%"]
    )
    iso = st.datetimes().map(lambda d: d.isoformat()) | st.from_regex(
        r"\A\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d{1,12})?(Z|[+-]\d\d:\d\d)?\Z"
    )

    @fuzz_settings(variant, 500)
    @given(any_value | iso, formats)
    def run(value: Any, fmt: str | None) -> None:
        tried("times/parser-time-field")
        ns = parse_time_text(value, fmt)
        assert ns is None or type(ns) is int

    run()


@pytest.mark.parametrize("variant", VARIANTS)
def test_search_time_ranges_are_int64_or_a_query_error(variant: str) -> None:
    ends = st.one_of(
        st.none(),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        numeric_text,
        st.text(max_size=20),
        st.sampled_from(["now", "15m", "1.5h", "99999999999y", "9" * 30 + "d", "0001-01-01"]),
        st.sampled_from(["9999-12-31T23:59:59Z", "2024-05-01 10:00:00+14:00", "-1"]),
        st.from_regex(r"\A\d{1,30}(\.\d{0,30})?\s?(ms|s|m|h|d|w|y)?\Z"),
        st.datetimes().map(lambda d: d.isoformat()),
    )

    @fuzz_settings(variant, 300)
    @given(ends, ends)
    def run(start: Any, end: Any) -> None:
        tried("times/search-range")
        try:
            span = time_range(start, end)
        except QueryError:
            return
        for ns in (span.start, span.end):
            assert ns is None or (type(ns) is int and 0 <= ns <= INT64)

    run()


# -- kv, syslog, regex --------------------------------------------------------------------

REGISTRY = ParserRegistry.build(
    {
        "words": {"type": "regex", "pattern": r"^(?P<ts>\S+) (?P<word>\w+)", "time_field": "ts"},
        "anywhere": {"type": "regex", "pattern": r"user=(?P<user>[^ ]*)", "ignore_case": True},
        "kvt": {"type": "kv", "time_field": "ts"},
        "kvepoch": {"type": "kv", "time_field": "ts", "time_format": "epoch"},
        "kvms": {"type": "kv", "time_field": "ts", "time_format": "epoch_ms"},
        "kviso": {"type": "kv", "time_field": "ts", "time_format": "iso8601"},
        "kvfmt": {"type": "kv", "time_field": "ts", "time_format": "%Y-%m-%d"},
    }
)
EXTRACT = REGISTRY.extractor(None)
SOURCETYPES = ["kv", "syslog", "json", "csv", "words", "anywhere", "kvt", "kvepoch", "kvms"]
SOURCETYPES += ["kviso", "kvfmt", "other"]

syslog_5424 = st.from_regex(
    r"\A<\d{1,4}>\d{1,2} \S{1,40} \S{1,10} \S{1,10} \S{1,5} \S{1,5} (-|(\[\S{1,5}( \S{1,4}=\"[^\"\\]{0,8}\")*\])+)( .{0,40})?\Z"
)
syslog_3164 = st.from_regex(
    r"\A(<\d{1,3}>)?(Jan|Feb|Dec|Xyz) [ \d]\d \d\d:\d\d:\d\d \S{1,10} (\S{1,8}(\[\d{1,5}\])?: )?.{0,40}\Z"
)
kv_text = st.lists(
    st.tuples(
        st.from_regex(r"\A[A-Za-z_@#][\w.@\-]{0,8}\Z"),
        st.text(max_size=12) | numeric_text | st.sampled_from(['"quoted \\" x"', "'single'"]),
    ),
    max_size=5,
).map(lambda pairs: " ".join(f"{k}={v}" for k, v in pairs))
timed = st.one_of(numeric_text, st.sampled_from(["9999-12-31T23:59:59Z", "0001-01-01T00:00:00"]))
texts = st.one_of(
    st.text(max_size=200),
    syslog_5424,
    syslog_3164,
    kv_text,
    timed.map(lambda t: f"ts={t} user=x"),
    timed.map(lambda t: f"{t} word"),
    timed.map(lambda t: f"<34>1 {t} host app - - - message"),
)


@pytest.mark.parametrize("variant", VARIANTS)
def test_parsers_give_storable_fields_and_an_in_range_time_or_nothing(variant: str) -> None:
    @fuzz_settings(variant, 250)
    @given(texts, st.sampled_from(SOURCETYPES))
    def run(text: str, sourcetype: str) -> None:
        tried("formats/any-text")
        found = EXTRACT(sourcetype, text)
        if found is None:
            return
        fields, when = found
        assert isinstance(fields, dict) and fields
        assert all(type(k) is str for k in fields)
        orjson.dumps(fields)
        assert when is None or (type(when) is int and 0 <= when <= MAX_NS)

    run()


@pytest.mark.parametrize("variant", VARIANTS)
def test_kv_pairs_round_trip(variant: str) -> None:
    name = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,8}\Z")
    plain = st.text(
        st.characters(blacklist_categories=["Cs", "Z", "Cc"], blacklist_characters="\"',;="),
        max_size=12,
    )

    @fuzz_settings(variant, 300)
    @given(st.dictionaries(name, plain, min_size=1, max_size=5), st.sampled_from([" ", ", ", "; "]))
    def run(pairs: dict[str, str], sep: str) -> None:
        tried("formats/kv-round-trip")
        text = sep.join(f"{k}={v}" for k, v in pairs.items())
        assert EXTRACT("kv", text) == (pairs, None)

    run()


@pytest.mark.parametrize("variant", VARIANTS)
def test_syslog_5424_lines_give_back_their_parts(variant: str) -> None:
    token = st.from_regex(r"\A[!-~]{1,12}\Z").filter(lambda t: t != "-")

    @fuzz_settings(variant, 300)
    @given(st.integers(0, 191), st.integers(1, 99), token, token, token, token, token)
    def run(pri: int, version: int, ts: str, host: str, app: str, proc: str, msgid: str) -> None:
        tried("formats/syslog-round-trip")
        found = EXTRACT("syslog", f"<{pri}>{version} {ts} {host} {app} {proc} {msgid} - hello")
        assert found is not None
        fields, _ = found
        expected = {"priority": pri, "facility": pri >> 3, "version": version, "timestamp": ts}
        expected |= {"hostname": host, "appname": app, "procid": proc, "msgid": msgid}
        assert fields == expected | {"severity": fields["severity"], "message": "hello"}

    run()


@pytest.mark.parametrize("variant", VARIANTS)
def test_regex_parsers_return_their_named_groups(variant: str) -> None:
    @fuzz_settings(variant, 300)
    @given(st.text(max_size=40), st.from_regex(r"\A[^ \n]{0,10}\Z"), st.text(max_size=40))
    def run(before: str, user: str, after: str) -> None:
        tried("formats/regex")
        text = f"{before} USER={user} {after}"
        found = EXTRACT("anywhere", text)
        assert found is not None
        expected = re.search(r"user=(?P<user>[^ ]*)", text, re.IGNORECASE)
        assume(expected is not None)
        assert found == ({"user": expected["user"]}, None)  # type: ignore[index]

    run()
