"""The consumer's flows, driven with scripted replies: retries, final errors, where feeds reopen."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

import pytest

from lakehose.client._retry import RetryPolicy
from lakehose.client.hec.flow import Wait
from lakehose.client.streams.discovery import Stream
from lakehose.client.streams.reconnect import (
    Connect,
    Discover,
    Discovered,
    FeedEnd,
    Reply,
    Step,
    discovery_flow,
    partition_flow,
)
from lakehose.errors import AuthError, RateLimitedError, ResponseError, TransportError

POLICY = RetryPolicy(retries=0, base=1.0, cap=8.0)


def stream(p: int = 0, token: str = "t") -> Stream:
    return Stream(p, f"http://h/sensors/entities/datafeed/v1/{p}?appId=a", token, "", "", 1800)


def drive(flow: Generator[Step, Reply, Any], replies: Iterator[Reply]) -> tuple[list[Step], Any]:
    """Run a flow with scripted replies until it returns or the script ends."""
    steps: list[Step] = []
    try:
        step = next(flow)
        while True:
            steps.append(step)
            reply = None if isinstance(step, Wait) else next(replies)
            step = flow.send(reply)
    except StopIteration as done:
        return steps, done.value


def kinds(steps: list[Step]) -> list[str]:
    return [type(s).__name__ for s in steps]


def test_discovery_retries_transport_errors_busy_answers_and_429_then_returns() -> None:
    replies = iter(
        [
            Discovered([], TransportError("refused")),
            Discovered([]),  # Falcon's answer while the appId is busy
            Discovered([], RateLimitedError(7.0)),
            Discovered([stream(0)]),
        ]
    )
    steps, streams = drive(discovery_flow(POLICY), replies)
    assert kinds(steps) == ["Discover", "Wait"] * 3 + ["Discover"]
    waits = [s for s in steps if isinstance(s, Wait)]
    assert waits[0].seconds <= 1.0 and waits[1].seconds <= 2.0
    assert 7.0 <= waits[2].seconds <= 7.7  # Retry-After, plus up to 10% jitter
    assert streams == [stream(0)]


def test_discovery_raises_errors_that_retrying_cannot_fix() -> None:
    with pytest.raises(AuthError):
        drive(discovery_flow(POLICY), iter([Discovered([], AuthError("403: denied"))]))
    with pytest.raises(ResponseError):
        drive(discovery_flow(POLICY), iter([Discovered([], ResponseError(400, "bad appId"))]))


def test_a_partition_reopens_where_its_reader_stopped_after_a_fresh_discovery() -> None:
    positions = iter([0, 10, 25])
    urls: list[str] = []

    def url_for(s: Stream) -> str:
        urls.append(f"{s.session_token}@{next(positions)}")
        return urls[-1]

    replies = iter(
        [
            FeedEnd(200, events=10),  # the session ended cleanly
            Discovered([stream(0, "t2"), stream(1, "x")]),
            FeedEnd(200, events=15, error=TransportError("reset")),
            Discovered([stream(0, "t3")]),
            FeedEnd(200, events=3, stopped=True),
        ]
    )
    steps, _ = drive(partition_flow(0, url_for, POLICY, stream(0, "t1")), replies)
    assert kinds(steps) == ["Connect", "Wait", "Discover", "Connect", "Wait", "Discover", "Connect"]
    assert urls == ["t1@0", "t2@10", "t3@25"]
    assert isinstance(steps[3], Connect) and steps[3].stream.session_token == "t2"


def test_failing_connections_back_off_and_one_that_delivered_resets_the_backoff() -> None:
    busy = FeedEnd(401, error=AuthError("appId a already has an active connection"))
    fresh = Discovered([stream(0)])
    replies = iter([busy, fresh, busy, fresh, busy, fresh, FeedEnd(200, events=1), fresh, busy])
    steps, _ = drive(partition_flow(0, lambda s: "u", POLICY, stream(0)), replies)
    waits = [s.seconds for s in steps if isinstance(s, Wait)]
    assert len(waits) == 5
    assert waits[2] >= 2.0  # third failure in a row: between 2 and 4 s
    assert waits[3] <= 1.0  # the connection that delivered reset the backoff


@pytest.mark.parametrize("status", [400, 404])
def test_a_refused_offset_or_partition_is_final(status: int) -> None:
    end = FeedEnd(status, error=ResponseError(status, "no"))
    with pytest.raises(ResponseError):
        drive(partition_flow(0, lambda s: "u", POLICY, stream(0)), iter([end]))


def test_a_partition_missing_from_discovery_is_asked_for_again() -> None:
    replies = iter(
        [
            FeedEnd(None, error=TransportError("refused")),
            Discovered([stream(0)]),
            Discovered([stream(0), stream(1)]),
            FeedEnd(200, stopped=True),
        ]
    )
    steps, _ = drive(partition_flow(1, lambda s: "u", POLICY, stream(1)), replies)
    assert kinds(steps) == ["Connect", "Wait", "Discover", "Wait", "Discover", "Connect"]
    assert isinstance(steps[0], Connect) and isinstance(steps[-1], Connect)
    assert steps[-1].stream.partition == 1
    assert not any(isinstance(s, Discover) for s in steps[:1])
