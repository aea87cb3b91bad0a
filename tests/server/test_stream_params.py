"""Stream request parameters: the rules consumers depend on, as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lakehose.server.routes import stream_params as sp


@pytest.mark.parametrize(
    ("given", "expected"),
    [("SiemFeed01", "siemfeed01"), ("sio-1767225600.5", "sio-1767225600.5"), ("a_b", "a_b")],
)
def test_appids_are_compared_lower_cased(given: str, expected: str) -> None:
    assert sp.app_id(given) == expected


@pytest.mark.parametrize("bad", [None, "", "a b", "a/b", "é", "x" * 65, "a?b", "a&b"])
def test_bad_appids_are_refused(bad: str | None) -> None:
    with pytest.raises(ValueError, match="appId"):
        sp.app_id(bad)


@pytest.mark.parametrize(
    ("given", "expected"), [(None, 0), ("", 0), ("0", 0), ("17", 17), (" 5 ", 5)]
)
def test_offsets(given: str | None, expected: int) -> None:
    assert sp.offset(given) == expected


@pytest.mark.parametrize("bad", ["-1", "x", "1.0", "1e3", str(2**63)])
def test_bad_offsets_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="offset"):
        sp.offset(bad)


def test_whence_two_tails_and_other_values_are_refused() -> None:
    assert sp.whence(None) == sp.whence("0") == sp.WHENCE_OFFSET
    assert sp.whence("2") == sp.WHENCE_END
    with pytest.raises(ValueError):
        sp.whence("1")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, None),
        ("", None),
        (" , ", None),
        ("A", frozenset({"A"})),
        ("A, B,", frozenset({"A", "B"})),
    ],
)
def test_event_type_filters(given: str | None, expected: frozenset[str] | None) -> None:
    assert sp.event_types(given) == expected


def test_partitions_must_exist() -> None:
    assert sp.partition("0", 1) == 0
    assert sp.partition("1", 2) == 1
    for bad in ("1", "-1", "x", "", "99999999999"):
        assert sp.partition(bad, 1) is None


def test_origin_prefers_the_public_url_then_the_host_header() -> None:
    assert sp.origin("https://lake.example.net/", "http", "h:1", "127.0.0.1:8088") == (
        "https://lake.example.net"
    )
    assert sp.origin(None, "https", "lake:8443", "0.0.0.0:8443") == "https://lake:8443"
    assert sp.origin(None, "http", "[::1]:8088", "x") == "http://[::1]:8088"
    assert sp.origin(None, "http", None, "10.0.0.5:8088") == "http://10.0.0.5:8088"
    with pytest.raises(ValueError):
        sp.origin(None, "http", "evil.example/path?", "x")


def test_urls_have_the_shapes_consumers_parse() -> None:
    base = "https://lake"
    assert sp.data_feed_url(base, 0, "app", "json") == (
        "https://lake/sensors/entities/datafeed/v1/0?appId=app"
    )
    assert sp.data_feed_url(base, 1, "app", "flatjson").endswith("/v1/1?appId=app&format=flatjson")
    assert sp.refresh_url(base, 3, "App") == (
        "https://lake/sensors/entities/datafeed-actions/v1/3"
        "?appId=app&action_name=refresh_active_stream_session"
    )


def test_expirations_are_rfc3339_with_nanoseconds_in_utc() -> None:
    text = sp.rfc3339(1767225600.5)
    assert text == "2026-01-01T00:00:00.500000000Z"
    assert datetime.fromisoformat(text) == datetime(2026, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)
    assert sp.rfc3339(1767225600.9999999999).startswith("2026-01-01T00:00:01.")


def test_a_feed_query_is_parsed_whole() -> None:
    query = sp.feed_query({"appId": "X", "offset": "9", "eventType": "", "format": "flatjson"})
    assert query == sp.FeedQuery("x", 9, sp.WHENCE_OFFSET, None, "flatjson")


@pytest.mark.parametrize("text", ["\u00b2", "\u0661", "1\u00b2"])
def test_digits_other_than_ascii_are_no_partition_and_no_offset(text: str) -> None:
    """Found by tests/fuzz: str.isdigit() accepts "²", which int() then refused with Python's
    own message (and "١" read as partition 1)."""
    assert sp.partition(text, 4) is None
    with pytest.raises(ValueError, match="is invalid: use a non-negative integer"):
        sp.offset(text)
