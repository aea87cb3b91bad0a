"""/event bodies: framing, envelopes, time, fields, and Splunk's prefix semantics on errors."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from lakehose.testing import RunningServer
from tests.helpers import assert_documented, create_connector, stored_events


@pytest.fixture
def lake(
    server: RunningServer, admin: httpx.Client, request: pytest.FixtureRequest
) -> tuple[httpx.Client, RunningServer]:
    """A fresh connector per test, so each test reads back only its own events."""
    name = "t" + str(abs(hash(request.node.name)) % 10**10)
    key = create_connector(admin, name, allowed_indexes=["sec", "ops"])
    client = httpx.Client(base_url=server.url, headers={"Authorization": f"Splunk {key}"})
    request.addfinalizer(client.close)
    client.connector = name  # type: ignore[attr-defined]
    return client, server


def mine(lake: tuple[httpx.Client, RunningServer]) -> list[dict[str, Any]]:
    client, server = lake
    return [e for e in stored_events(server.data_dir) if e["connector"] == client.connector]  # type: ignore[attr-defined]


def send(lake: tuple[httpx.Client, RunningServer], body: bytes | str) -> httpx.Response:
    return lake[0].post(
        "/services/collector/event", content=body.encode() if isinstance(body, str) else body
    )


@pytest.mark.parametrize(
    "body",
    [
        '{"event":"a"}{"event":"b"}{"event":"c"}',
        '{"event":"a"}\n{"event":"b"}\n{"event":"c"}\n',
        '{"event":"a"}\r\n{"event":"b"}\r\n{"event":"c"}',
        '{"event":"a"} {"event":"b"}\t{"event":"c"}',
        '[{"event":"a"},{"event":"b"},{"event":"c"}]',
        '{"event":"a"}\n[{"event":"b"},{"event":"c"}]',
        '{\n  "event": "a"\n}\n{\n  "event": "b"\n}{"event":"c"}',
        '\n\n{"event":"a"}\n\n{"event":"b"}\n\n{"event":"c"}\n\n',
    ],
    ids=[
        "concatenated",
        "newlines",
        "crlf",
        "spaces",
        "array",
        "mixed-array",
        "pretty",
        "blank-lines",
    ],
)
def test_every_framing_of_three_events_stores_three_events_in_order(lake: Any, body: str) -> None:
    reply = send(lake, body)
    assert reply.json() == {"text": "Success", "code": 0}
    assert [e["event"] for e in mine(lake)] == ["a", "b", "c"]


def test_a_string_that_contains_braces_is_not_split(lake: Any) -> None:
    assert send(lake, '{"event":"x}{y"}{"event":"}\\n{"}').json()["code"] == 0
    assert [e["event"] for e in mine(lake)] == ["x}{y", "}\n{"]


def test_envelope_metadata_and_fields_are_kept(lake: Any) -> None:
    env = {
        "event": {"user": "alice", "action": "login", "nested": {"ip": "10.0.0.1"}},
        "time": "1767225600.123456789",
        "host": "web-01",
        "source": "auth.log",
        "sourcetype": "auth",
        "index": "sec",
        "fields": {"env": "prod", "tags": ["a", "b"], "n": 3, "ok": True, "none": None},
    }
    assert send(lake, orjson.dumps(env)).json()["code"] == 0
    (stored,) = mine(lake)
    assert stored["event"] == env["event"]
    assert stored["time"] == 1767225600123456789
    assert (stored["host"], stored["source"], stored["sourcetype"], stored["index"]) == (
        "web-01",
        "auth.log",
        "auth",
        "sec",
    )
    assert stored["fields"] == env["fields"]


def test_defaults_come_from_the_connector(lake: Any) -> None:
    client, server = lake
    assert send(lake, '{"event":"x"}').json()["code"] == 0
    (stored,) = mine(lake)
    assert stored["index"] == "main" and stored["sourcetype"] == "httpevent"
    assert stored["source"] == f"http:{client.connector}"


def test_query_parameters_set_per_request_defaults(lake: Any) -> None:
    client, _ = lake
    reply = client.post(
        "/services/collector",
        params={"index": "ops", "sourcetype": "qs", "host": "h1"},
        content=b'{"event":"x"}{"event":"y","host":"h2"}',
    )
    assert reply.json()["code"] == 0
    stored = mine(lake)
    assert [(e["index"], e["sourcetype"], e["host"]) for e in stored] == [
        ("ops", "qs", "h1"),
        ("ops", "qs", "h2"),
    ]


@pytest.mark.parametrize(
    ("time", "ns"),
    [
        (1767225600, 1767225600_000000000),
        (1767225600.5, 1767225600_500000000),
        (1767225600.123456, 1767225600_123456000),
        ("1767225600.123", 1767225600_123000000),
        ("1767225600.123456789", 1767225600_123456789),
        ("1767225600", 1767225600_000000000),
    ],
)
def test_time_is_epoch_seconds_converted_exactly(lake: Any, time: Any, ns: int) -> None:
    assert send(lake, orjson.dumps({"event": "t", "time": time})).json()["code"] == 0
    assert mine(lake)[0]["time"] == ns


def test_falconpy_timestamp_and_timeunit_give_the_time_when_time_is_absent(lake: Any) -> None:
    big = 1767225600119000123  # above 2**53: must be parsed as an integer
    body = orjson.dumps(
        {"event": {"host": "h", "timestamp": big, "timeunit": "nanoseconds", "x": 1}}
    )
    body += orjson.dumps({"event": {"timestamp": 1767225600119, "timeunit": "milliseconds"}})
    body += orjson.dumps({"event": {"timestamp": 1767225600, "timeunit": "seconds"}})
    assert send(lake, body).json()["code"] == 0
    assert [e["time"] for e in mine(lake)] == [big, 1767225600119000000, 1767225600000000000]
    assert mine(lake)[0]["event"]["timestamp"] == big


def test_an_event_without_time_gets_the_time_of_receipt(lake: Any) -> None:
    import time

    before = time.time_ns()
    assert send(lake, '{"event":"now"}').json()["code"] == 0
    assert before <= mine(lake)[0]["time"] <= time.time_ns()


def test_a_body_that_is_one_json_string_is_raw_text_one_event_per_line(lake: Any) -> None:
    text = 'first line\n{"user":"bob"}\r\nthird line\n'
    assert send(lake, orjson.dumps(text)).json()["code"] == 0
    assert [e["event"] for e in mine(lake)] == ["first line", {"user": "bob"}, "third line"]


def test_fields_only_envelopes_are_stored(lake: Any) -> None:
    assert send(lake, '{"fields":{"metric_name:cpu":0.5}}').json()["code"] == 0
    assert mine(lake)[0]["fields"] == {"metric_name:cpu": 0.5}


def test_unknown_envelope_keys_are_ignored_not_fatal(lake: Any) -> None:
    assert send(lake, '{"event":"a","colour":"red"}{"event":"b"}').json()["code"] == 0
    assert [e["event"] for e in mine(lake)] == ["a", "b"]


def test_numbers_objects_and_arrays_are_valid_events(lake: Any) -> None:
    assert send(lake, '{"event":42}{"event":[1,2]}{"event":true}{"event":{}}').json()["code"] == 0
    assert [e["event"] for e in mine(lake)] == [42, [1, 2], True, {}]


def test_json_string_events_are_parsed_into_fields(lake: Any) -> None:
    assert (
        send(lake, orjson.dumps({"event": '{"user": {"name": "bob"}, "ok": true}'})).json()["code"]
        == 0
    )
    assert mine(lake)[0]["fields"] == {"user.name": "bob", "ok": True}


# Splunk's prefix semantics: events before the bad one are stored; it and the rest are not.

GOOD = '{"event":"ok1"}{"event":"ok2"}'


@pytest.mark.parametrize(
    ("bad", "code", "text"),
    [
        ('{"event":""}', 13, "Event field cannot be blank"),
        ('{"event":null}', 12, "Event field is required"),
        ('{"evnt":"typo"}', 12, "Event field is required"),
        ('{"event":"x","time":"yesterday"}', 6, "Invalid data format"),
        ('{"event":"x","time":-5}', 6, "Invalid data format"),
        ('{"event":"x","time":true}', 6, "Invalid data format"),
        ('{"event":"x","fields":{"a":{"b":1}}}', 15, "Error in handling indexed fields"),
        ('{"event":"x","fields":{"a":[[1]]}}', 15, "Error in handling indexed fields"),
        ('{"event":"x","fields":[1]}', 6, "Invalid data format"),
        ('{"event":"x","host":{"a":1}}', 6, "Invalid data format"),
        ('{"event":"x","index":"nope"}', 7, "Incorrect index"),
        ('{"event":"x","index":"Bad Name"}', 7, "Incorrect index"),
        ('{"event":"x"', 6, "Invalid data format"),
        ("not json", 6, "Invalid data format"),
        ("42", 6, "Invalid data format"),
        ('{"event":\xff}', 6, "Invalid data format"),
    ],
)
def test_a_bad_third_event_stores_the_first_two_and_names_event_2(
    lake: Any, bad: str, code: int, text: str
) -> None:
    body = (
        GOOD.encode()
        + (bad.encode("latin-1") if "\xff" in bad else bad.encode())
        + b'{"event":"after"}'
    )
    reply = send(lake, body)
    assert reply.status_code == 400
    assert reply.json() == {"text": text, "code": code, "invalid-event-number": 2}
    assert [e["event"] for e in mine(lake)] == ["ok1", "ok2"]


def test_a_bad_first_event_stores_nothing(lake: Any) -> None:
    reply = send(lake, '{"event":""}{"event":"b"}')
    assert reply.json() == {
        "text": "Event field cannot be blank",
        "code": 13,
        "invalid-event-number": 0,
    }
    assert mine(lake) == []


def test_the_prefix_rule_counts_array_members_as_events(lake: Any) -> None:
    reply = send(lake, '[{"event":"a"},{"event":"b"}]\n[{"event":"c"},{"event":""}]')
    assert reply.json()["invalid-event-number"] == 3
    assert [e["event"] for e in mine(lake)] == ["a", "b", "c"]


def test_resending_from_the_invalid_event_number_loses_and_duplicates_nothing(lake: Any) -> None:
    events = [{"event": f"e{i}"} for i in range(10)]
    events[4] = {"event": ""}
    reply = send(lake, b"".join(orjson.dumps(e) for e in events))
    n = reply.json()["invalid-event-number"]
    assert n == 4
    assert send(lake, b"".join(orjson.dumps(e) for e in events[n + 1 :])).json()["code"] == 0
    assert [e["event"] for e in mine(lake)] == [f"e{i}" for i in range(10) if i != 4]


@pytest.mark.parametrize("body", [b"", b"   ", b"\n\r\n"])
def test_an_empty_body_is_no_data(lake: Any, body: bytes) -> None:
    reply = send(lake, body)
    assert (reply.status_code, reply.json()) == (400, {"text": "No data", "code": 5})


def test_content_type_is_ignored(lake: Any) -> None:
    client, _ = lake
    for content_type in (
        "application/x-www-form-urlencoded",
        'application/json; profile="urn:splunk:event:1.0"',
        "text/plain",
        "application/x-yaml",
    ):
        reply = client.post(
            "/services/collector", content=b'{"event":"ct"}', headers={"Content-Type": content_type}
        )
        assert reply.json()["code"] == 0
    assert len(mine(lake)) == 4


def test_deep_nesting_and_huge_numbers_are_handled(lake: Any) -> None:
    deep = '{"event":' + "[" * 5000 + "]" * 5000 + "}"
    reply = send(lake, deep)
    assert reply.status_code == 400 and reply.json()["code"] == 6
    assert send(lake, '{"event":{"big":123456789012345678901234567890}}').json()["code"] == 0


def test_envelopes_are_refused_and_kept_as_the_openapi_document_says(lake: Any) -> None:
    # schemathesis: [{"event": false, ..., "fields": null}] was stored while the document said
    # fields is an object; null fields are none (the document says so now), and an envelope
    # needs an event or, for a metric, fields alone (the document said neither)
    body = '[{"event": false, "time": 0.0, "host": "", "source": "", "sourcetype": "", "index": "", "fields": null}]'
    reply = send(lake, body)
    assert reply.status_code == 200 and reply.json()["code"] == 0
    assert [e["event"] for e in mine(lake)] == [False]
    for refused in ('{"fields": null}', '{"event": null, "fields": {"a": 1}}', "{}"):
        reply = send(lake, refused)
        assert reply.status_code == 400 and reply.json()["code"] == 12, refused
    assert_documented(lake[1], "POST", "/services/collector/event", reply)
    doc = httpx.get(lake[1].url + "/api/v1/openapi.json").json()
    envelope = doc["components"]["schemas"]["HecEnvelope"]
    assert "null" in envelope["properties"]["fields"]["type"] and envelope["anyOf"]


def test_envelope_metadata_is_read_as_the_openapi_document_says(lake: Any) -> None:
    # schemathesis: [{"event": false, ..., "index": null, ...}] was stored while the document
    # said index is a string; null is the default and a number is text, as the document now says
    body = '[{"event": false, "fields": {}, "host": "", "index": null, "source": "", "sourcetype": "", "time": 0.0}]'
    assert send(lake, body).json()["code"] == 0
    assert send(lake, '{"event": "a", "host": 5}').json()["code"] == 0
    assert [e["host"] for e in mine(lake)][-1] == "5"
    refused = send(lake, '{"event": "a", "host": true}')
    assert refused.status_code == 400 and refused.json()["code"] == 6
    doc = httpx.get(lake[1].url + "/api/v1/openapi.json").json()
    properties = doc["components"]["schemas"]["HecEnvelope"]["properties"]
    for key in ("host", "source", "sourcetype", "index"):
        assert properties[key]["type"] == ["string", "number", "null"], key
