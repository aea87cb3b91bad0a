"""The named parsers: json, kv, csv, syslog, regex, and their registry."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lakehose.parsers.formats import (
    ParserRegistry,
    build_parser,
    flatten,
    parse_time_text,
    syslog_time,
)


@pytest.mark.parametrize(
    ("obj", "flat"),
    [
        ({"a": {"b": {"c": 1}}}, {"a.b.c": 1}),
        ({"a": [1, 2]}, {"a": [1, 2]}),
        ({"a": [{"b": 1}, {"b": 2}]}, {"a[0].b": 1, "a[1].b": 2}),
        ({"a": [[1], 2]}, {"a[0]": [1], "a[1]": 2}),
        ({}, {}),
    ],
)
def test_flatten_uses_dots_and_array_indexes(obj: dict, flat: dict) -> None:  # type: ignore[type-arg]
    assert flatten(obj) == flat


@pytest.mark.parametrize(
    ("kind", "text", "fields"),
    [
        ("kv", "a=1 b=\"two words\" c='x y' d=", {"a": "1", "b": "two words", "c": "x y", "d": ""}),
        ("kv", "no pairs here", None),
        ("json", '{"x": {"y": true}}', {"x.y": True}),
        ("json", "[1,2]", None),
        ("json", "{broken", None),
        ("csv", 'a,"b,c",d', {"field1": "a", "field2": "b,c", "field3": "d"}),
        (
            "syslog",
            "<13>Jan  2 03:04:05 host prog: hello",
            {
                "priority": 13,
                "facility": 1,
                "severity": "notice",
                "timestamp": "Jan  2 03:04:05",
                "hostname": "host",
                "appname": "prog",
                "message": "hello",
            },
        ),
        (
            "syslog",
            "Jan  2 03:04:05 host prog[7]: no pri",
            {
                "timestamp": "Jan  2 03:04:05",
                "hostname": "host",
                "appname": "prog",
                "procid": "7",
                "message": "no pri",
            },
        ),
        (
            "syslog",
            "<14>1 - - - - - -",
            {"priority": 14, "facility": 1, "severity": "info", "version": 1},
        ),
        ("syslog", "not syslog at all", None),
    ],
)
def test_builtin_parsers(kind: str, text: str, fields: dict | None) -> None:  # type: ignore[type-arg]
    result = build_parser(kind, {"type": kind}).extract(text)
    assert (result[0] if result else None) == fields


def test_csv_with_named_columns_and_a_time_field() -> None:
    parser = build_parser(
        "fw", {"type": "csv", "columns": ["ts", "src"], "time_field": "ts", "time_format": "epoch"}
    )
    assert parser.extract("1767225600.5,10.0.0.1") == (
        {"ts": "1767225600.5", "src": "10.0.0.1"},
        1767225600_500000000,
    )


def test_regex_parser_needs_named_groups() -> None:
    with pytest.raises(ValueError, match="named group"):
        build_parser("r", {"type": "regex", "pattern": "(a)"})
    with pytest.raises(ValueError, match="bad pattern"):
        build_parser("r", {"type": "regex", "pattern": "(?P<a>"})
    with pytest.raises(ValueError, match="unknown type"):
        build_parser("r", {"type": "xml"})
    with pytest.raises(ValueError, match="unknown option"):
        build_parser("r", {"type": "kv", "colour": "red"})


@pytest.mark.parametrize(
    ("value", "fmt", "ns"),
    [
        ("2026-01-01T00:00:00Z", "iso8601", 1767225600_000000000),
        ("2026-01-01T00:00:00.123456789+00:00", None, 1767225600_123456789),
        ("1767225600123", "epoch_ms", 1767225600_123000000),
        ("1767225600", None, 1767225600_000000000),
        ("01/01/2026 00:00:00", "%m/%d/%Y %H:%M:%S", 1767225600_000000000),
        ("garbage", "iso8601", None),
    ],
)
def test_time_fields_parse_per_format(value: str, fmt: str | None, ns: int | None) -> None:
    assert parse_time_text(value, fmt) == ns


def test_registry_selects_by_sourcetype_then_connector_parser_then_json() -> None:
    registry = ParserRegistry.build({"fw": {"type": "kv", "sourcetypes": ["fortinet"]}})
    plain = registry.extractor(None)
    assert plain("fortinet", "a=1") == ({"a": "1"}, None)
    assert plain("fw", "a=1") == ({"a": "1"}, None)
    assert plain("unknown", "a=1") is None
    assert plain("unknown", '{"a": 1}') == ({"a": 1}, None)
    assert registry.extractor("kv")("unknown", "b=2") == ({"b": "2"}, None)


@given(st.text(max_size=200))
def test_parsers_never_raise_on_any_text(text: str) -> None:
    registry = ParserRegistry.build({"r": {"type": "regex", "pattern": r"(?P<w>\w+)"}})
    for sourcetype in ("json", "kv", "csv", "syslog", "r", "other"):
        registry.extractor(None)(sourcetype, text)


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        ("1a=2 -b=3 .c=4", {"a": "2", "b": "3", "c": "4"}),
        ("x#y=1 a#b#c=2", {"#y": "1", "#c": "2"}),
        ("123=a=5", {"a": "5"}),
        ("\u00e9k=v", {"k": "v"}),
        ("a" * 100_000 + " b=2", {"b": "2"}),
        ("-a" * 50_000 + "=1 z=9", {("-a" * 50_000)[1:]: "1", "z": "9"}),
        ("b" * 100_000, None),
    ],
    ids=["digits-before", "hash", "no-key", "unicode", "long-run", "long-dashes", "no-equals"],
)
def test_kv_keys_start_at_the_first_letter_of_a_run(text: str, fields: dict | None) -> None:  # type: ignore[type-arg]
    """Found by tests/fuzz: the kv regex was tried at every position of a run of key
    characters, so a long run was quadratic (a 1 MB line of letters took hours, holding a
    worker). No time is asserted: the old regex would run past pytest's timeout."""
    assert build_parser("kv", {"type": "kv"}).parse(text) == fields


@pytest.mark.parametrize(
    "stamp", ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "1960-01-01T00:00:00Z"]
)
def test_a_syslog_time_no_event_can_have_is_ignored(stamp: str) -> None:
    """Found by tests/fuzz: year 9999 overflowed the lake's int64 times and failed the commit
    (a 500, for every request committed with it); before 1970 the time was negative."""
    found = ParserRegistry.build().extractor(None)("syslog", f"<34>1 {stamp} host app - - - m")
    assert found is not None
    fields, when = found
    assert fields["timestamp"] == stamp and when is None


def test_a_parsed_time_field_beyond_int64_is_ignored() -> None:
    registry = ParserRegistry.build({"fw": {"type": "kv", "time_field": "ts"}})
    assert registry.extractor(None)("fw", "ts=99999999999999999999999 a=1") == (
        {"ts": "99999999999999999999999", "a": "1"},
        None,
    )


# -- row by row: what each parser makes of a line, and what it leaves alone --------------

FULL_5424 = (
    '<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3"'
    ' eventSource="Application"][examplePriority@32473 class="high"] \ufeffAn application event'
)


@pytest.mark.parametrize(
    ("kind", "options", "text", "fields"),
    [
        ("kv", {}, 'a="x\\"y" f="a\\\\b" c=""', {"a": 'x"y', "f": "a\\b", "c": ""}),
        ("kv", {}, "b='it''s'", {"b": "it"}),
        ("kv", {}, "k=v; l=w,m=x", {"k": "v", "l": "w", "m": "x"}),
        ("kv", {}, "a=1 a=2", {"a": "2"}),  # the last one wins
        ("kv", {}, 'q="', {"q": ""}),
        ("kv", {}, "q='x", {"q": ""}),
        ("kv", {}, "q=\"'", {"q": ""}),
        ("kv", {"pattern": r"(\w+):(\w+)"}, "x:1 y:2", {"x": "1", "y": "2"}),
        ("kv", {"pattern": r"(\w+):(\w+)"}, "x=1", None),
        ("csv", {"delimiter": ";"}, "a;b,c", {"field1": "a", "field2": "b,c"}),
        ("csv", {"columns": ["x", "y"]}, "a,b,c", {"x": "a", "y": "b"}),
        ("csv", {"columns": ["x", "y"]}, "a", {"x": "a"}),
        ("csv", {}, "", None),
        ("syslog", {}, "<192>Jan  2 03:04:05 host prog: x",  # 192 is no priority
         {"timestamp": "Jan  2 03:04:05", "hostname": "host", "appname": "prog", "message": "x"}),
        ("syslog", {}, "<191>Jan  2 03:04:05 host x",
         {"priority": 191, "facility": 23, "severity": "debug", "timestamp": "Jan  2 03:04:05",
          "hostname": "host", "message": "x"}),
        ("syslog", {}, "<0>Jan  2 03:04:05 host x",
         {"priority": 0, "facility": 0, "severity": "emerg", "timestamp": "Jan  2 03:04:05",
          "hostname": "host", "message": "x"}),
        ("syslog", {}, "<11>Jan  2 03:04:05 host x",
         {"priority": 11, "facility": 1, "severity": "err", "timestamp": "Jan  2 03:04:05",
          "hostname": "host", "message": "x"}),
        ("syslog", {}, FULL_5424,
         {"priority": 165, "facility": 20, "severity": "notice", "version": 1,
          "timestamp": "2003-10-11T22:14:15.003Z", "hostname": "mymachine.example.com",
          "appname": "evntslog", "msgid": "ID47", "sd.exampleSDID@32473.iut": "3",
          "sd.exampleSDID@32473.eventSource": "Application",
          "sd.examplePriority@32473.class": "high", "message": "An application event"}),
        ("syslog", {}, "<34>1 - host app 123 - - msg",
         {"priority": 34, "facility": 4, "severity": "crit", "version": 1, "hostname": "host",
          "appname": "app", "procid": "123", "message": "msg"}),
        ("syslog", {}, '<7>1 - - - - - [a b="q\\"x\\\\y"]',
         {"priority": 7, "facility": 0, "severity": "debug", "version": 1, "sd.a.b": 'q"x\\y'}),
        ("syslog", {}, '<7>1 - - - - - [a b="c"] -',  # a message of "-" is a message
         {"priority": 7, "facility": 0, "severity": "debug", "version": 1, "sd.a.b": "c",
          "message": "-"}),
        ("regex", {"pattern": r"user (?P<name>\w+)(?P<bang>!)?", "ignore_case": True},
         "User Bob logged", {"name": "Bob"}),  # an unmatched group is no field
        ("regex", {"pattern": r"user (?P<name>\w+)"}, "User Bob logged", None),
        ("regex", {"pattern": r"user (?P<name>\w+)"}, "a user bob", {"name": "bob"}),
        ("json", {}, '  {"a":[{"b":1},[2],3]}', {"a[0].b": 1, "a[1]": [2], "a[2]": 3}),
        ("json", {}, '  x{"a":1}', None),
    ],
)  # fmt: skip
def test_parser_rows(kind: str, options: dict, text: str, fields: dict | None) -> None:  # type: ignore[type-arg]
    result = build_parser(kind, {"type": kind, **options}).extract(text)
    assert (result[0] if result else None) == fields


def test_a_full_rfc5424_line_has_its_time() -> None:
    assert build_parser("syslog", {}).extract(FULL_5424)[1] == 1065910455_003000000  # type: ignore[index]


@pytest.mark.parametrize(
    ("value", "fmt", "ns"),
    [
        ("1767225600.5", "epoch_ms", 1767225600_500000),
        (" 1767225600123 ", "epoch_ms", 1767225600_123000000),
        ("abc", "epoch_ms", None),
        ("inf", "epoch_ms", None),
        (1767225600, None, 1767225600_000000000),
        (1767225600, "auto", 1767225600_000000000),
        (1767225600.5, None, 1767225600_500000000),
        ("2026-01-01T00:00:00", None, 1767225600_000000000),  # no zone: UTC
        ("2026-01-01 00:00:00.5z", "iso8601", 1767225600_500000000),
        ("2026-01-01T01:00:00+01:00", "iso8601", 1767225600_000000000),
        ("2026-01-01T00:00:00.1234567891", "iso8601", 1767225600_123456789),  # cut at ns
        ("x", "epoch", None),
        ("1767225600", "epoch", 1767225600_000000000),
        ("2026 01 01 +0100", "%Y %m %d %z", 1767222000_000000000),  # a zone in the format
        ("1e5", None, None),
        ("99999999999999999999999999", "%Y", None),
    ],
)
def test_more_time_field_formats(value: object, fmt: str | None, ns: int | None) -> None:
    assert parse_time_text(value, fmt) == ns


NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("fields", "ns"),
    [
        ({"timestamp": "Jan  1 11:00:00"}, 1767265200_000000000),
        ({"timestamp": "Jan  2 11:00:00"}, 1767351600_000000000),  # under a day ahead: this year
        ({"timestamp": "Jan  2 13:00:00"}, 1735822800_000000000),  # a day or more: last year
        ({"timestamp": "Dec 31 23:00:00"}, 1767222000_000000000),
        ({"timestamp": "Feb 30 00:00:00"}, None),
        ({"timestamp": 5}, None),
        ({}, None),
        ({"timestamp": "2026-01-01T00:00:00Z", "version": 1}, 1767225600_000000000),
    ],
)
def test_syslog_times(fields: dict, ns: int | None) -> None:  # type: ignore[type-arg]
    assert syslog_time(fields, NOW) == ns


@pytest.mark.parametrize(
    ("obj", "flat"),
    [
        ({"a": [1, {"b": 2}]}, {"a[0]": 1, "a[1].b": 2}),
        ({1: 2}, {"1": 2}),
        ({"a": {}}, {}),
        ({"a": [[]]}, {"a[0]": []}),
        ({"a": {"b": [{"c": {"d": 1}}]}}, {"a.b[0].c.d": 1}),
    ],
)
def test_more_flattening(obj: dict, flat: dict) -> None:  # type: ignore[type-arg]
    assert flatten(obj) == flat


def test_the_registry_knows_every_name_and_sourcetype() -> None:
    registry = ParserRegistry.build({"fw": {"type": "kv", "sourcetypes": ["f1", "f2"]}})
    assert registry.names() == ["csv", "fw", "json", "kv", "syslog"]
    assert sorted(registry.by_sourcetype) == [
        "_json",
        "csv",
        "f1",
        "f2",
        "fw",
        "json",
        "kv",
        "syslog",
    ]
    assert registry.by_sourcetype["_json"] is registry.parsers["json"]
    plain = registry.extractor(None)
    assert plain.wants("fw") and plain.wants("_json") and not plain.wants("zz")
    assert registry.extractor("kv").wants("zz")  # a connector parser applies to everything
    assert not registry.extractor("nope").wants("zz")  # an unknown one to nothing
    assert plain("_json", '{"a":1}') == ({"a": 1}, None)
    assert plain("zz", ' {"a":1}') is None  # auto-JSON only for text that starts with {
    assert plain("zz", "[1]") is None


def test_a_parser_definition_is_kept_whole() -> None:
    parser = build_parser(
        "x", {"type": "csv", "time_field": "t", "time_format": "epoch", "sourcetypes": ["a"]}
    )
    assert (parser.name, parser.type, parser.time_field, parser.time_format, parser.sourcetypes) == (
        "x", "csv", "t", "epoch", ("a",)
    )  # fmt: skip
    assert build_parser("kv", {}).type == "kv"  # the type defaults to the name


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ({"type": "csv", "delimiter": ";;"}, "csv delimiter must be one character"),
        ({"type": "csv", "delimiter": ""}, "csv delimiter must be one character"),
        ({"type": "regex"}, "a regex parser needs a 'pattern' with named groups"),
        ({"type": "kv", "pattern": "("}, "parser 'b': bad pattern: missing \\), unterminated"),
        ({"type": "xml"}, "parser 'b': unknown type 'xml'; one of json, kv, csv, syslog, regex"),
        ({"type": "kv", "b": 1, "a": 2}, "parser 'b': unknown option\\(s\\) a, b"),
    ],
)
def test_bad_parser_definitions(definition: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError, match=f"^{message}"):
        build_parser("b", definition)


@pytest.mark.parametrize(
    ("definition", "text", "when"),
    [
        ({"type": "kv", "time_field": "ts"}, "ts=1767225600 a=1", 1767225600_000000000),
        ({"type": "kv", "time_field": "ts"}, "ts=0 a=1", 0),  # the epoch itself is a time
        ({"type": "kv", "time_field": "ts"}, "a=1", None),  # no such field
        ({"type": "kv", "time_field": "ts"}, "ts=never", None),
        ({"type": "kv", "time_field": "ts", "time_format": "epoch"}, "ts=9223372036", 9223372036 * 10**9),
        ({"type": "kv", "time_field": "ts", "time_format": "epoch_ms"}, "ts=9223372036855", None),
        ({"type": "syslog", "time_field": "hostname"}, "<1>Jan  1 00:00:00 h x", None),
    ],
)  # fmt: skip
def test_time_fields_set_the_event_time(definition: dict, text: str, when: int | None) -> None:  # type: ignore[type-arg]
    result = build_parser("p", definition).extract(text)
    assert result is not None and result[1] == when


@pytest.mark.parametrize(
    ("value", "fmt", "ns"),
    [
        ("2026-01-01T00:00:00", "iso8601", 1767225600_000000000),
        ("2026-01-01T00:00:00.5", None, 1767225600_500000000),
        ("01/01/2026 00:00:00", "%m/%d/%Y %H:%M:%S", 1767225600_000000000),
    ],
)
def test_a_time_without_a_zone_is_utc_whatever_the_machine_zone(
    value: str, fmt: str | None, ns: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert parse_time_text(value, fmt) == ns
    finally:
        monkeypatch.undo()
        time.tzset()


def test_a_parser_is_immutable() -> None:
    """Parsers are shared by every request of a connector."""
    parser = build_parser("kv", {})
    with pytest.raises(dataclasses.FrozenInstanceError):
        parser.time_field = "ts"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        ('a="x b=y"', {"a": '"x', "b": 'y"'}),  # quotes only come off when they pair
        ("a='' b=\"x\"", {"a": "", "b": "x"}),
        ('a=" b="', {"a": '"', "b": '"'}),  # a lone quote is a value of one character
    ],
)
def test_a_custom_kv_pattern_strips_only_paired_quotes(text: str, fields: dict) -> None:  # type: ignore[type-arg]
    assert build_parser("kv", {"pattern": r"(\w+)=(\S+)"}).parse(text) == fields


def test_the_raw_line_grouping_follows_the_sourcetype_then_the_connector_parser() -> None:
    registry = ParserRegistry.build(
        {"trace": {"type": "text", "line_start": r"^\d", "sourcetypes": ["java"]}}
    )
    lines = registry.parsers["trace"].lines
    assert lines is not None
    plain = registry.extractor(None)
    assert plain.grouping("java") is lines  # by sourcetype, with no connector parser
    assert plain.grouping("zz") is None  # no parser: a line each
    assert plain.grouping("_json") is None  # a parser without line options: a line each
    connector = registry.extractor("trace")
    assert connector.grouping("zz") is lines  # no sourcetype parser: the connector's
    assert connector.grouping("java") is lines
    assert registry.extractor("kv").grouping("java") is lines  # the sourcetype's comes first


@pytest.mark.parametrize(
    ("value", "ns"),
    [
        ("2026-01-01T00:00:00", 1767225600_000000000),  # no fraction, no zone
        ("2026-01-01 00:00:07+00:00", 1767225607_000000000),  # no fraction, a zone
        ("2026-01-01T00:00:00.000000001Z", 1767225600_000000001),
    ],
)
def test_an_iso_time_without_a_fraction_has_no_nanoseconds(value: str, ns: int) -> None:
    assert parse_time_text(value, "iso8601") == ns
    assert parse_time_text(value, None) == ns
