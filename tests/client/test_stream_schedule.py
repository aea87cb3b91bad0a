"""When sessions are refreshed, and where a feed is (re)opened: pure functions."""

from __future__ import annotations

import pytest

from lakehose.client.streams.discovery import Stream, feed_url, parse_streams
from lakehose.client.streams.sessions import RefreshSchedule, default_refresh_after
from lakehose.errors import ResponseError


def stream(url: str = "http://h/sensors/entities/datafeed/v1/0?appId=a") -> Stream:
    return Stream(0, url, "secret-token", "", "", 1800)


@pytest.mark.parametrize(("interval", "after"), [(1800, 1740), (120, 90), (2, 1.5)])
def test_sessions_are_refreshed_before_the_interval_ends(interval: int, after: float) -> None:
    assert default_refresh_after(interval) == after


def test_a_schedule_refreshes_each_partition_when_due_and_retries_failures_sooner() -> None:
    schedule = RefreshSchedule()
    schedule.track(0, 1800, since=0.0)
    schedule.track(1, 1800, since=100.0)
    assert schedule.next_due() == 1740
    assert schedule.due(1740) == [0]
    schedule.refreshed(0, 1740, ok=True)
    assert schedule.due(1840) == [1]
    schedule.refreshed(1, 1840, ok=False)
    assert schedule.due(1845) == [1]
    schedule.forget(1)
    assert schedule.tracked() == [0]


def test_a_configured_refresh_interval_wins() -> None:
    schedule = RefreshSchedule(refresh_interval=0.3)
    schedule.track(0, 2, since=10.0)
    assert schedule.next_due() == pytest.approx(10.3)


def test_feed_urls_add_the_offset_or_whence_and_event_types() -> None:
    assert feed_url(stream(), offset=42).endswith("?appId=a&offset=42")
    assert feed_url(stream(), tail=True).endswith("?appId=a&whence=2")
    url = feed_url(stream("http://h/f/v1/3"), offset=0, event_types=["A", "B"])
    assert url == "http://h/f/v1/3?offset=0&eventType=A,B"


def test_discovery_bodies_become_streams_in_partition_order() -> None:
    def resource(p: int) -> dict[str, object]:
        return {
            "dataFeedURL": f"http://h/sensors/entities/datafeed/v1/{p}?appId=a",
            "sessionToken": {"token": f"t{p}", "expiration": "2026-01-01T00:00:00Z"},
            "refreshActiveSessionURL": f"http://h/sensors/entities/datafeed-actions/v1/{p}?appId=a",
            "refreshActiveSessionInterval": 1800,
        }

    streams = parse_streams({"resources": [resource(1), resource(0)]})
    assert [(s.partition, s.session_token) for s in streams] == [(0, "t0"), (1, "t1")]
    assert "t0" not in repr(streams[0])
    assert parse_streams({"meta": {}, "resources": []}) == []
    with pytest.raises(ResponseError):
        parse_streams({"resources": [{"dataFeedURL": "x"}]})
    with pytest.raises(ResponseError):
        parse_streams([])
