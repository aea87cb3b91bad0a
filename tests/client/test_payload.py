"""FalconPy's payload normalisation, checked against FalconPy itself."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from falconpy import IngestPayload as FalconPayload

from lakehose.client import IngestPayload
from lakehose.client.hec.payload import falcon_envelope, raw_line, to_envelope

EVENTS: list[dict[str, Any]] = [
    {"msg": "hello"},
    {"host": "web1", "action": "login", "user": {"name": "alice", "roles": ["a", "b"]}},
    {"host": "", "n": 1},
    {"timestamp": 1_700_000_000, "x": 1},
    {"host": "h", "fields": {"env": "prod", "tier": 2}, "k": "v"},
    {"custom": {"c1": 1}, "after": 2},
    {"fields": {}, "empty_fields": True},
    {"event": "an event key is just a key to FalconPy"},
]


def _without_time(envelope: dict[str, Any]) -> dict[str, Any]:
    event = dict(envelope["event"])
    event.pop("timestamp")
    return {**envelope, "event": event}


@pytest.mark.parametrize("unit", ["nanoseconds", "milliseconds", "seconds"])
@pytest.mark.parametrize("event", EVENTS, ids=lambda e: ",".join(e))
def test_falcon_envelope_is_what_falconpy_builds(event: dict[str, Any], unit: str) -> None:
    theirs = FalconPayload(**orjson.loads(orjson.dumps(event)), timeunit=unit).to_json()
    ours = falcon_envelope(orjson.loads(orjson.dumps(event)), unit)
    assert list(ours["event"]) == list(theirs["event"]), "same keys in the same order"
    assert _without_time(ours) == _without_time(theirs)
    if event.get("timestamp"):
        assert ours["event"]["timestamp"] == event["timestamp"]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: ",".join(e))
def test_raw_falcon_envelope_drops_fields_as_falconpy_does(event: dict[str, Any]) -> None:
    theirs = orjson.loads(FalconPayload(**dict(event), timeunit="seconds").to_json(raw=True))
    ours = falcon_envelope(dict(event), "seconds", raw=True)
    assert _without_time(ours) == _without_time(theirs)


def test_default_timestamp_is_now_in_the_time_unit() -> None:
    before = datetime.now(UTC).timestamp()
    seconds = falcon_envelope({}, "seconds")["event"]["timestamp"]
    nanos = falcon_envelope({}, "nanoseconds")["event"]["timestamp"]
    assert isinstance(nanos, int) and nanos > 2**53
    assert int(before) <= seconds <= int(before) + 60
    assert abs(nanos / 1e9 - before) < 60


def test_an_events_own_timeunit_is_honoured() -> None:
    envelope = falcon_envelope(
        {"timestamp": 1_700_000_000_000, "timeunit": "milliseconds"}, "nanoseconds"
    )
    assert envelope["event"]["timeunit"] == "milliseconds"
    assert envelope["event"]["timestamp"] == 1_700_000_000_000


def test_an_unknown_timeunit_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown time unit"):
        falcon_envelope({"timeunit": "fortnights"}, "seconds")


def test_ingest_payload_matches_falconpys() -> None:
    kwargs: dict[str, Any] = {"host": "h1", "timestamp": 42, "fields": {"f": 1}, "extra": "x"}
    ours = IngestPayload(**kwargs, timeunit="seconds")
    theirs = FalconPayload(**kwargs, timeunit="seconds")
    assert ours.to_json() == theirs.to_json()
    assert ours.to_json(nowrap=True) == theirs.to_json(nowrap=True)
    assert orjson.loads(str(ours.to_json(raw=True))) == orjson.loads(theirs.to_json(raw=True))


@pytest.mark.parametrize(
    ("item", "envelope"),
    [
        ("hello", {"event": "hello"}),
        ({"event": "x", "sourcetype": "s"}, {"event": "x", "sourcetype": "s"}),
        ({"fields": {"a": 1}}, {"fields": {"a": 1}}),
        ({"event": "login", "user": "alice"}, {"event": {"event": "login", "user": "alice"}}),
        ({"user": "alice"}, {"event": {"user": "alice"}}),
        (42, {"event": 42}),
        (
            {"event": "x", "time": datetime(2024, 1, 2, 3, 4, 5, 250000)},
            {"event": "x", "time": 1704164645.25},
        ),
    ],
)
def test_to_envelope_never_drops_a_key(item: Any, envelope: Any) -> None:
    assert to_envelope(item) == envelope


def test_raw_lines_are_text_or_json() -> None:
    assert raw_line("a b") == b"a b"
    assert raw_line(b"x") == b"x"
    assert raw_line({"a": (1, 2)}) == b'{"a":[1,2]}'


@pytest.mark.parametrize("raw", [False, True])
def test_the_batch_form_shapes_exactly_like_the_single_form(raw: bool) -> None:
    from lakehose.client.hec.payload import falcon_envelopes

    many = falcon_envelopes([dict(e) for e in EVENTS], "milliseconds", raw=raw)
    one = [falcon_envelope(dict(e), "milliseconds", raw=raw) for e in EVENTS]
    assert [_without_time(m) for m in many] == [_without_time(o) for o in one]
    assert [list(m["event"]) for m in many] == [list(o["event"]) for o in one]
