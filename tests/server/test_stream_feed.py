"""The data feed: replay from any offset, live tail, envelope, filters, formats, bad offsets."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lakehose.testing import RunningServer, run_server
from tests.helpers import bearer_token, wait_for
from tests.server.groupkit import set_clock
from tests.server.streamkit import FeedReader, first_stream, numbered, open_feed, send, stream_token


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_server(
        tmp_path_factory.mktemp("lake") / "data", args=["--heartbeat-interval", "0.5"]
    ) as s:
        yield s


@pytest.fixture(scope="module")
def token(server: RunningServer) -> str:
    return stream_token(server, "feed-reader")


@pytest.fixture(scope="module")
def loaded(server: RunningServer) -> list[dict[str, Any]]:
    """The first 30 events of the lake: offsets 0-29, three requests, two sourcetypes."""
    first = numbered(0, 10, kind="a")
    for n, env in enumerate(first):
        env.update(time=1767225600.123 + n, host="web-07", source="app.log")
    send(server, first)
    send(server, [{**e, "sourcetype": "AuthActivityAuditEvent"} for e in numbered(10, 10)])
    send(server, numbered(20, 10, kind="c"))
    return [*first, *numbered(10, 20)]


def seqs(events: list[dict[str, Any]]) -> list[int]:
    return [e["event"]["seq"] for e in events]


def offsets(events: list[dict[str, Any]]) -> list[int]:
    return [e["metadata"]["offset"] for e in events]


def test_replay_from_zero_delivers_every_event_in_the_falcon_envelope(
    server: RunningServer, token: str, loaded: list[dict[str, Any]]
) -> None:
    with open_feed(first_stream(server, token, "replay0"), "&offset=0") as feed:
        assert feed.status == 200
        assert feed.response.headers["content-type"].startswith("application/json")
        assert feed.response.headers["transfer-encoding"] == "chunked"
        events = feed.events(30)
    assert offsets(events) == list(range(30)) and seqs(events) == list(range(30))
    first = events[0]
    assert set(first) == {"metadata", "event"}
    meta = first["metadata"]
    assert re.fullmatch(r"[0-9a-f]{32}", meta["customerIDString"])
    assert meta["eventCreationTime"] == 1767225600123 and type(meta["eventCreationTime"]) is int
    assert meta["version"] == "1.0" and meta["eventType"] == "httpevent"
    assert (meta["host"], meta["source"], meta["sourcetype"]) == ("web-07", "app.log", "httpevent")
    assert (meta["partition"], meta["connector"], meta["index"]) == (0, "default", "main")
    assert first["event"] == {"seq": 0, "kind": "a"}
    assert events[10]["metadata"]["eventType"] == "AuthActivityAuditEvent"
    assert events[10]["metadata"]["sourcetype"] == "AuthActivityAuditEvent"
    assert len({e["metadata"]["customerIDString"] for e in events}) == 1


def test_offset_is_inclusive_when_replaying_from_the_middle(
    server: RunningServer, token: str, loaded: list[dict[str, Any]]
) -> None:
    for start in (13, 10, 29):
        with open_feed(first_stream(server, token, f"mid{start}"), f"&offset={start}") as feed:
            events = feed.events(30 - start)
        assert offsets(events) == list(range(start, 30))


def test_lines_end_with_crlf_and_hold_one_object_each(
    server: RunningServer, token: str, loaded: list[dict[str, Any]]
) -> None:
    with open_feed(first_stream(server, token, "crlf"), "&offset=28") as feed:
        lines = [feed.next_line(), feed.next_line()]
    assert all(line.endswith(b"}\r") and line.startswith(b'{"metadata":') for line in lines)


def test_event_type_filter_selects_sourcetypes_and_empty_means_all(
    server: RunningServer, token: str, loaded: list[dict[str, Any]]
) -> None:
    query = "&eventType=AuthActivityAuditEvent,DetectionSummaryEvent"
    with open_feed(first_stream(server, token, "types"), query) as feed:
        events = feed.events(10)
        send(server, [{"event": {"seq": "late"}, "sourcetype": "AuthActivityAuditEvent"}])
        events += feed.events(1)
    assert offsets(events[:10]) == list(range(10, 20))
    assert events[10]["event"] == {"seq": "late"}
    assert {e["metadata"]["eventType"] for e in events} == {"AuthActivityAuditEvent"}
    with open_feed(first_stream(server, token, "alltypes"), "&eventType=&offset=0") as feed:
        assert offsets(feed.events(30)) == list(range(30))


def test_live_tail_delivers_events_as_they_are_committed(
    server: RunningServer, token: str, loaded: list[dict[str, Any]]
) -> None:
    with open_feed(first_stream(server, token, "tail"), "&whence=2") as feed:
        assert feed.status == 200
        send(server, [{"event": {"live": 1}}])
        send(server, [{"event": {"live": 2}}, {"event": {"live": 3}}])
        events = feed.events(3)
    assert [e["event"]["live"] for e in events] == [1, 2, 3]
    assert offsets(events) == sorted(offsets(events)) and offsets(events)[0] >= 30


def test_an_offset_beyond_the_end_waits_for_that_event(
    server: RunningServer, token: str, loaded: list[dict[str, Any]]
) -> None:
    end = _end_offset(server)
    with open_feed(first_stream(server, token, "ahead"), f"&offset={end + 2}") as feed:
        send(server, [{"event": {"n": i}} for i in range(4)])
        events = feed.events(2)
    assert offsets(events) == [end + 2, end + 3]
    assert [e["event"]["n"] for e in events] == [2, 3]


def test_an_idle_feed_sends_keepalive_blank_lines(server: RunningServer, token: str) -> None:
    with open_feed(first_stream(server, token, "idle"), "&whence=2") as feed:
        assert feed.next_line(timeout=15) == b"\r"
        assert feed.next_line(timeout=15) == b"\r"


def test_flatjson_flattens_the_event_and_text_events_become_objects(
    server: RunningServer, token: str, loaded: list[dict[str, Any]]
) -> None:
    nested = {"user": {"name": "alice", "ip": "198.51.100.20"}, "tags": [{"k": "a"}, {"k": "b"}]}
    start = _end_offset(server)
    send(server, [{"event": nested}, {"event": "plain text line"}])
    flat = first_stream(server, token, "flatjson", format="flatjson")
    with open_feed(flat, f"&offset={start}") as feed:
        events = feed.events(2)
    assert events[0]["event"] == {
        "user.name": "alice",
        "user.ip": "198.51.100.20",
        "tags[0].k": "a",
        "tags[1].k": "b",
    }
    assert events[1]["event"] == {"@rawstring": "plain text line"}
    with open_feed(first_stream(server, token, "nested"), f"&offset={start}") as feed:
        events = feed.events(2)
    assert events[0]["event"] == nested
    assert events[1]["event"] == {"@rawstring": "plain text line"}


def test_raw_and_indexed_fields_reach_the_stream(server: RunningServer, token: str) -> None:
    start = _end_offset(server)
    reply = httpx.post(
        server.hec_url + "/raw?sourcetype=syslogish&site=paris",
        content=b'{"json": "line"}\nkey=value text\n',
        headers={"Authorization": f"Splunk {server.api_key}"},
    )
    assert reply.status_code == 200
    send(server, [{"event": {"e": 1}, "fields": {"env": "prod"}}])
    with open_feed(first_stream(server, token, "rawlines"), f"&offset={start}") as feed:
        events = feed.events(3)
    assert events[0]["event"] == {"json": "line"}
    assert events[1]["event"] == {"@rawstring": "key=value text"}
    assert events[0]["metadata"]["fields"]["site"] == "paris"
    assert events[2]["metadata"]["fields"] == {"env": "prod"}
    assert events[0]["metadata"]["eventType"] == "syslogish"


@pytest.mark.parametrize(
    "query",
    ["&offset=-1", "&offset=abc", "&offset=1.5", "&offset=99999999999999999999", "&whence=1"],
)
def test_bad_offsets_get_400_with_a_falcon_error_body(
    server: RunningServer, token: str, query: str
) -> None:
    with open_feed(first_stream(server, token, "badoffset"), query) as feed:
        assert feed.status == 400
    body = httpx.Response(400, content=feed.body).json()
    assert body["errors"][0]["code"] == 400 and body["errors"][0]["message"]
    assert body["meta"] and body["resources"] == []


def test_a_bad_session_token_gets_401(server: RunningServer, token: str) -> None:
    resource = first_stream(server, token, "badtoken")
    forged = {**resource, "sessionToken": {"token": "forged"}}
    with open_feed(forged) as feed:
        assert feed.status == 401
        assert httpx.Response(401, content=feed.body).json()["errors"][0]["message"]
    bearer_scheme = httpx.get(resource["dataFeedURL"], headers={"Authorization": f"Bearer {token}"})
    assert bearer_scheme.status_code == 401


def test_a_second_feed_with_the_same_appid_gets_401_and_the_first_keeps_going(
    server: RunningServer, token: str
) -> None:
    with open_feed(first_stream(server, token, "OnlyOne"), "&whence=2") as first:
        assert first.status == 200
        for app in ("OnlyOne", "onlyone"):
            with open_feed(first_stream(server, token, app)) as second:
                assert second.status == 401
                message = httpx.Response(401, content=second.body).json()["errors"][0]["message"]
                assert message == "appId onlyone already has an active connection on partition 0"
        send(server, [{"event": {"still": "here"}}])
        assert first.events(1)[0]["event"] == {"still": "here"}
    reopen(server, token, "OnlyOne", "&whence=2").close()


def test_a_consumer_that_disconnects_resumes_from_its_last_offset_without_gaps(
    server: RunningServer, token: str
) -> None:
    start = _end_offset(server)
    send(server, numbered(0, 100, run="resume"))
    with open_feed(first_stream(server, token, "resumer"), f"&offset={start}") as feed:
        seen = feed.events(40)
    stop = threading.Event()

    def producer() -> None:
        n = 100
        while not stop.is_set() and n < 300:
            send(server, numbered(n, 20, run="resume"))
            n += 20

    writer = threading.Thread(target=producer)
    writer.start()
    try:
        resume_at = seen[-1]["metadata"]["offset"] + 1
        with reopen(server, token, "resumer", f"&offset={resume_at}") as feed:
            seen += feed.events(260)
    finally:
        stop.set()
        writer.join()
    assert offsets(seen) == list(range(start, start + 300))
    assert seqs(seen) == list(range(300))


def test_customer_id_stays_the_same_across_sessions(server: RunningServer, token: str) -> None:
    start = _end_offset(server)
    send(server, [{"event": {"probe": 1}}])
    ids = set()
    for app in ("cid1", "cid2"):
        with open_feed(first_stream(server, token, app), f"&offset={start}") as feed:
            ids.add(feed.events(1)[0]["metadata"]["customerIDString"])
    assert len(ids) == 1


def test_the_feed_is_readable_with_requests_as_crowdstrikes_examples_show(
    server: RunningServer, token: str, loaded: list[dict[str, Any]]
) -> None:
    import requests

    resource = first_stream(server, token, "plainrequests")
    headers = {
        "Authorization": f"Token {resource['sessionToken']['token']}",
        "Date": "Thu, 01 Jan 2026 00:00:00 GMT",
        "Connection": "Keep-Alive",
        "Accept": "application/json",
    }
    with requests.get(
        resource["dataFeedURL"] + "&offset=5", headers=headers, stream=True, timeout=30
    ) as response:
        assert response.status_code == 200
        lines = response.iter_lines()
        first = next(line for line in lines if line.strip())
    assert b'"offset":5,' in first


def _end_offset(server: RunningServer) -> int:
    status = httpx.get(server.url + "/api/v1/status").json()["resources"][0]
    return int(status["partitions"][0]["end_offset"])


def reopen(server: RunningServer, token: str, app: str, query: str = "") -> FeedReader:
    """Open ``app``'s feed, retrying while the server still holds its previous connection."""

    def attempt() -> FeedReader | None:
        feed = open_feed(first_stream(server, token, app), query)
        if feed.status == 401:
            feed.close()
            return None
        assert feed.status == 200
        return feed

    opened: FeedReader = wait_for(attempt, timeout=20, interval=0.1)
    return opened


def test_an_offset_older_than_retention_starts_at_the_oldest_event_kept(
    tmp_path: Path,
) -> None:
    # offsets 0-4 are stamped three days ago (the sandbox clock), past a day's retention; what
    # comes later stays however slowly the feed reads it (with a real 2 s age, the event the
    # feed waited for could age out before a loaded machine delivered it)
    args = ["--sandbox", "--retention-age", "1d", "--retention-interval", "0.2"]
    with run_server(tmp_path / "data", args=[*args, "--heartbeat-interval", "0.5"]) as s:
        admin = bearer_token(s, "admin")
        set_clock(s, admin, -3 * 86400)
        send(s, numbered(0, 5))
        set_clock(s, admin, 0)
        wait_for(lambda: _start_offset(s) == 5, timeout=60)  # all five aged out
        token = stream_token(s, "retention-reader")
        with open_feed(first_stream(s, token, "old0"), "&offset=0") as feed:
            assert feed.status == 200
            send(s, [{"event": {"kept": 1}}])
            event = feed.events(1)[0]
        assert event == {**event, "event": {"kept": 1}} and event["metadata"]["offset"] == 5
        with open_feed(first_stream(s, token, "old2"), "&offset=2") as feed:
            assert feed.status == 200
            send(s, [{"event": {"kept": 2}}])
            assert [e["metadata"]["offset"] for e in feed.events(2)] == [5, 6]


def _start_offset(server: RunningServer) -> int:
    status = httpx.get(server.url + "/api/v1/status").json()["resources"][0]
    return int(status["partitions"][0]["start_offset"])
