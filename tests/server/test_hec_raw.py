"""/raw: one event per line, metadata from the query string, other parameters as fields."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from lakehose.testing import RunningServer
from tests.helpers import create_connector, stored_events


@pytest.fixture
def raw(server: RunningServer, admin: httpx.Client, request: pytest.FixtureRequest) -> Any:
    name = "r" + str(abs(hash(request.node.name)) % 10**10)
    key = create_connector(admin, name, allowed_indexes=["net"])
    client = httpx.Client(base_url=server.url, headers={"Authorization": f"Splunk {key}"})
    request.addfinalizer(client.close)

    def events() -> list[dict[str, Any]]:
        return [e for e in stored_events(server.data_dir) if e["connector"] == name]

    client.events = events  # type: ignore[attr-defined]
    return client


def test_lines_split_on_lf_crlf_and_cr_and_blank_lines_are_dropped(raw: Any) -> None:
    body = b"one\ntwo\r\nthree\rfour\n\n\r\n  \nfive"
    assert raw.post("/services/collector/raw", content=body).json() == {
        "text": "Success",
        "code": 0,
    }
    assert [e["event"] for e in raw.events()] == ["one", "two", "three", "four", "five"]


def test_query_metadata_applies_to_every_line_and_other_parameters_become_fields(raw: Any) -> None:
    params = {
        "host": "fw1",
        "source": "udp:514",
        "sourcetype": "fw",
        "index": "net",
        "time": "1767225600.25",
        "channel": "x",
        "serverHost": "collector-7",
        "logfile": "/var/log/fw",
    }
    assert raw.post("/services/collector/raw", params=params, content=b"a\nb").json()["code"] == 0
    stored = raw.events()
    assert [e["event"] for e in stored] == ["a", "b"]
    for e in stored:
        assert (e["host"], e["source"], e["sourcetype"], e["index"]) == (
            "fw1",
            "udp:514",
            "fw",
            "net",
        )
        assert e["time"] == 1767225600_250000000
        assert e["fields"] == {"serverHost": "collector-7", "logfile": "/var/log/fw"}


def test_a_line_holding_a_json_object_is_stored_as_that_object(raw: Any) -> None:
    body = b'{"event":{"user":"bob"}}\n{not json\n["array"]'
    assert raw.post("/services/collector/raw", content=body).json()["code"] == 0
    assert [e["event"] for e in raw.events()] == [
        {"event": {"user": "bob"}},
        "{not json",
        '["array"]',
    ]
    assert raw.events()[0]["raw"] == 1


def test_a_bad_time_parameter_is_code_15_at_event_0(raw: Any) -> None:
    reply = raw.post("/services/collector/raw", params={"time": "noon"}, content=b"x")
    assert (reply.status_code, reply.json()) == (
        400,
        {"text": "Error in handling indexed fields", "code": 15, "invalid-event-number": 0},
    )
    assert raw.events() == []


def test_an_index_that_is_not_allowed_is_code_7(raw: Any) -> None:
    reply = raw.post("/services/collector/raw", params={"index": "secret"}, content=b"x")
    assert (reply.status_code, reply.json()["code"]) == (400, 7)
    assert raw.events() == []


@pytest.mark.parametrize("body", [b"", b"\n\r\n", b"   \n  "])
def test_a_blank_body_is_no_data(raw: Any, body: bytes) -> None:
    reply = raw.post("/services/collector/raw", content=body)
    assert (reply.status_code, reply.json()) == (400, {"text": "No data", "code": 5})


def test_invalid_utf8_is_stored_with_replacement_characters_not_refused(raw: Any) -> None:
    assert raw.post("/services/collector/raw", content=b"caf\xe9 \xff\x00end").json()["code"] == 0
    assert raw.events()[0]["event"] == "caf\ufffd \ufffd\x00end"


def test_a_one_megabyte_line_is_one_event(raw: Any) -> None:
    line = b"x" * (1024 * 1024)
    assert raw.post("/services/collector/raw", content=line + b"\nsmall").json()["code"] == 0
    assert [len(e["event"]) for e in raw.events()] == [1024 * 1024, 5]


def test_raw_does_not_need_a_channel_without_acks(raw: Any) -> None:
    assert raw.post("/services/collector/raw/1.0", content=b"no channel").json()["code"] == 0
