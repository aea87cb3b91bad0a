"""Reading events from NDJSON, YAML, XML and CSV (gzipped or not)."""

from __future__ import annotations

import gzip
import io
from pathlib import Path
from typing import Any

import pytest

from lakehose.client import InputError, open_input, read_events, read_lines


def _read(data: bytes, fmt: str) -> list[Any]:
    with open_input(io.BytesIO(data)) as (stream, _):
        return list(read_events(stream, fmt))


def test_ndjson_lines_are_events_and_a_bad_line_is_reported_in_place() -> None:
    data = b'{"a":1}\n\n"text"\n{"event":"x","sourcetype":"s"}\n{bad\n[1,2]\n'
    events = _read(data, "json")
    assert events[:3] == [{"a": 1}, "text", {"event": "x", "sourcetype": "s"}]
    assert isinstance(events[3], InputError) and events[3].line == 5
    assert events[4] == [1, 2]


def test_a_json_array_file_is_a_list_of_events() -> None:
    assert _read(b'  [{"a":1},{"b":2}]', "json") == [{"a": 1}, {"b": 2}]


def test_yaml_documents_and_lists_are_events() -> None:
    data = b"a: 1\nb: [x, y]\n---\n- c: 3\n- d: 4\n---\n"
    assert _read(data, "yaml") == [{"a": 1, "b": ["x", "y"]}, {"c": 3}, {"d": 4}]


def test_bad_yaml_is_reported_with_its_line() -> None:
    events = _read(b"a: 1\n---\nb: [unclosed\n", "yaml")
    assert events[0] == {"a": 1}
    assert isinstance(events[1], InputError) and events[1].line >= 3


def test_xml_children_of_the_root_are_events_xmltodict_style() -> None:
    data = b"""<events>
      <event id="1"><user>alice</user><tag>a</tag><tag>b</tag></event>
      <event id="2">plain <b>bold</b></event>
      <note>just text</note>
    </events>"""
    assert _read(data, "xml") == [
        {"@id": "1", "user": "alice", "tag": ["a", "b"]},
        {"@id": "2", "b": "bold", "#text": "plain"},
        "just text",
    ]


def test_bad_xml_is_reported() -> None:
    events = _read(b"<events><e>1</e><e>2</oops></events>", "xml")
    assert events[0] == "1"
    assert isinstance(events[-1], InputError)


def test_csv_rows_are_dicts_by_the_header_row() -> None:
    data = b"\xef\xbb\xbfuser,action,n\nalice,login,1\n\nbob,logout\ncarol,x,3,extra\n"
    events = _read(data, "csv")
    assert events[:2] == [
        {"user": "alice", "action": "login", "n": "1"},
        {"user": "bob", "action": "logout"},
    ]
    assert isinstance(events[2], InputError) and events[2].line == 5


def test_gzip_input_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "events.ndjson.gz"
    path.write_bytes(gzip.compress(b'{"a":1}\n{"a":2}\n'))
    with open_input(path) as (stream, counter):
        assert list(read_events(stream)) == [{"a": 1}, {"a": 2}]
        assert counter.count == path.stat().st_size


def test_read_lines_skips_blank_lines_and_line_endings() -> None:
    with open_input(io.BytesIO(b"a\r\n\n  \nb\nc")) as (stream, _):
        assert list(read_lines(stream)) == [b"a", b"b", b"c"]


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown input format"):
        read_events(io.BytesIO(b""), "toml")
