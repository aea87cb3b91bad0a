"""The named parsers: json, kv, csv, syslog, regex, and their registry."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lakehose.parsers.formats import ParserRegistry, build_parser, flatten, parse_time_text


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
