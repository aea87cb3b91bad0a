"""``StreamConsumer`` against a real lakehose with 2 s sessions: order, offsets, sessions, commits.

Each test reads only its own events (a sourcetype of its own, ``event_types=[...]``),
so the tests share one server. Waits are bounded; nothing asserts how fast anything is.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lakehose.client import FileCheckpoint, StreamConsumer
from lakehose.errors import AuthError, ConfigError, ResponseError
from lakehose.testing import RunningServer, run_server
from tests.client.consumerkit import (
    SHORT_SESSIONS,
    api_client,
    new_sourcetype,
    offsets,
    send,
    seqs,
    stream_threads,
    take,
)
from tests.helpers import wait_for

TTL = 2


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_server(tmp_path_factory.mktemp("lake") / "data", args=SHORT_SESSIONS) as s:
        yield s


@pytest.fixture(scope="module")
def credentials(server: RunningServer) -> tuple[str, str]:
    return api_client(server)


@pytest.fixture
def consumer_for(
    server: RunningServer, credentials: tuple[str, str], request: pytest.FixtureRequest
) -> Iterator[Any]:
    """Build consumers of one sourcetype on the module's server; all closed at the end."""
    made: list[StreamConsumer] = []

    def make(sourcetype: str, **kwargs: Any) -> StreamConsumer:
        name = request.node.name.removeprefix("test_")[:28].replace("_", "-")  # appId <= 32
        kwargs.setdefault("app_id", f"{name}-{len(made)}")
        kwargs.setdefault("client_id", credentials[0])
        kwargs.setdefault("client_secret", credentials[1])
        consumer = StreamConsumer(server.url, event_types=[sourcetype], **kwargs)
        made.append(consumer)
        return consumer

    yield make
    for consumer in made:
        consumer.close()
    assert stream_threads() == []


def test_every_event_arrives_once_and_in_order_from_offset_zero(
    server: RunningServer, consumer_for: Any
) -> None:
    st = new_sourcetype()
    for start in range(0, 300, 100):
        send(server, st, range(start, start + 100))
    with consumer_for(st) as consumer:
        events = take(consumer, 300)
        assert seqs(events) == list(range(300))
        assert offsets(events) == sorted(set(offsets(events)))
        assert all(e["metadata"]["eventType"] == st for e in events)
        assert consumer.poll(1.0) is None  # nothing more: keep-alive lines are not events


def test_a_start_offset_is_inclusive(server: RunningServer, consumer_for: Any) -> None:
    st = new_sourcetype()
    send(server, st, range(20))
    with consumer_for(st) as first:
        known = offsets(take(first, 20))
    with consumer_for(st, offset=known[12]) as consumer:
        events = take(consumer, 8)
    assert offsets(events) == known[12:]
    assert seqs(events) == list(range(12, 20))


def test_tail_reads_only_events_that_arrive_after_it_connected(
    server: RunningServer, consumer_for: Any
) -> None:
    st = new_sourcetype()
    send(server, st, range(5))
    # refreshed well within the 2 s session (the default refreshes at 1.5 s): a session that
    # ends on a loaded machine makes a reconnect, and a tail that has read nothing starts at
    # the end again, after the events sent below
    consumer = consumer_for(st, tail=True, refresh_interval=0.3).start()
    wait_for(lambda: consumer.stats.connections == 1, timeout=30)
    send(server, st, range(5, 10))
    assert seqs(take(consumer, 5)) == list(range(5, 10))


def test_new_events_reach_a_waiting_consumer(server: RunningServer, consumer_for: Any) -> None:
    st = new_sourcetype()
    with consumer_for(st) as consumer:
        assert consumer.poll(1.0) is None
        send(server, st, [1, 2])
        assert seqs(take(consumer, 2)) == [1, 2]


def test_raw_mode_yields_each_line_as_the_feed_sent_it(
    server: RunningServer, consumer_for: Any
) -> None:
    st = new_sourcetype()
    send(server, st, range(3))
    with consumer_for(st, raw=True) as consumer:
        lines = take(consumer, 3)
    assert all(isinstance(line, str) and "\n" not in line for line in lines)
    assert [json.loads(line)["event"]["seq"] for line in lines] == [0, 1, 2]


def test_flatjson_events_have_dotted_names(server: RunningServer, consumer_for: Any) -> None:
    st = new_sourcetype()
    import httpx

    body = json.dumps({"event": {"user": {"name": "alice"}}, "sourcetype": st})
    headers = {"Authorization": f"Splunk {server.api_key}"}
    assert httpx.post(server.hec_url, content=body, headers=headers).status_code == 200
    with consumer_for(st, format="flatjson") as consumer:
        (event,) = take(consumer, 1)
    assert event["event"] == {"user.name": "alice"}


def test_refreshes_keep_one_connection_open_past_several_session_lifetimes(
    server: RunningServer, consumer_for: Any
) -> None:
    # Each refresh must reach the server within the 2 s TTL of the one before. On a machine
    # too loaded for that, the session ends, a refresh fails or the consumer reconnects, and
    # the test tries again: a consumer whose refreshes do not keep its feed fails all three.
    for attempt in range(3):
        st = new_sourcetype()
        send(server, st, range(10))
        with consumer_for(st, refresh_interval=0.3, app_id=f"one-connection-{attempt}") as c:
            assert seqs(take(c, 10)) == list(range(10))
            time.sleep(3 * TTL + 0.5)  # three session lifetimes, refreshed every 0.3 s
            send(server, st, range(10, 20))
            assert seqs(take(c, 10)) == list(range(10, 20))
            if c.stats.refresh_failures or c.stats.reconnects:
                continue
            assert c.stats.connections == 1
            assert c.stats.refreshes >= 3 * TTL
            return
    raise AssertionError("in three tries, the consumer's feed did not outlive its session")


def test_the_default_refresh_reads_on_across_several_session_lifetimes(
    server: RunningServer, consumer_for: Any
) -> None:
    """Refreshes 1.5 s into each 2 s session; whatever the timing, nothing is lost or repeated."""
    st = new_sourcetype()
    with consumer_for(st) as consumer:
        got: list[Any] = []
        for round in range(4):
            send(server, st, range(10 * round, 10 * round + 10))
            got += take(consumer, 10)
            time.sleep(TTL * 0.75)
        assert seqs(got) == list(range(40))
        assert consumer.stats.refreshes >= 1


def test_an_expired_session_ends_the_feed_and_the_consumer_reconnects_where_it_was(
    server: RunningServer, consumer_for: Any
) -> None:
    st = new_sourcetype()
    send(server, st, range(5))
    with consumer_for(st, refresh_interval=600) as consumer:  # never refreshed in time
        first = take(consumer, 5)
        time.sleep(TTL + 1)  # the session is over: the server ended the feed
        send(server, st, range(5, 10))
        rest = take(consumer, 5)
        assert seqs(first + rest) == list(range(10))
        assert consumer.stats.connections >= 2 and consumer.stats.reconnects >= 1


def test_a_new_consumer_resumes_after_the_last_commit_with_no_gap_or_duplicate(
    server: RunningServer, consumer_for: Any, tmp_path: Path
) -> None:
    st = new_sourcetype()
    path = tmp_path / "offsets.json"
    send(server, st, range(20))
    with consumer_for(st, checkpoint=path, app_id="resume-a") as consumer:
        for _ in range(12):
            (event,) = take(consumer, 1)
            consumer.commit()  # after processing each event
        last = event["metadata"]["offset"]
    assert FileCheckpoint(path).load() == {0: last}
    with consumer_for(st, checkpoint=path, app_id="resume-a") as consumer:
        events = take(consumer, 8)
    assert seqs(events) == list(range(12, 20))
    assert events[0]["metadata"]["offset"] == last + 1


def test_a_crash_between_processing_and_commit_repeats_exactly_that_event(
    server: RunningServer, consumer_for: Any, tmp_path: Path
) -> None:
    st = new_sourcetype()
    path = tmp_path / "offsets.json"
    send(server, st, range(10))
    consumer = consumer_for(st, checkpoint=path, auto_commit=False, app_id="crash-a")
    for n in range(6):
        take(consumer, 1)
        if n < 5:
            consumer.commit()  # the sixth was processed, then the process "died"
    consumer.close()  # without auto-commit, closing saves nothing
    with consumer_for(st, checkpoint=path, app_id="crash-a") as again:
        assert seqs(take(again, 5)) == [5, 6, 7, 8, 9]


def test_auto_commit_saves_what_the_caller_finished_and_on_close_what_it_was_given(
    server: RunningServer, consumer_for: Any, tmp_path: Path
) -> None:
    st = new_sourcetype()
    path = tmp_path / "offsets.json"
    send(server, st, range(10))
    consumer = consumer_for(st, checkpoint=path, commit_every=3, commit_interval=None)
    known = offsets(take(consumer, 5))
    # asking for the fourth event committed the first three; the fourth is finished too
    # (the caller asked for the fifth), the fifth is in flight
    assert FileCheckpoint(path).load() == {0: known[2]}
    with pytest.raises(RuntimeError), consumer:
        raise RuntimeError("the caller failed while handling the fifth event")
    assert FileCheckpoint(path).load() == {0: known[3]}
    with consumer_for(st, checkpoint=path) as clean:
        events = take(clean, 2)
    assert offsets(events)[0] == known[4]
    assert FileCheckpoint(path).load() == {0: offsets(events)[1]}


def test_a_second_consumer_with_the_same_app_id_waits_for_the_first_to_leave(
    server: RunningServer, consumer_for: Any
) -> None:
    st = new_sourcetype()
    send(server, st, range(3))
    first = consumer_for(st, app_id="shared-app")
    assert seqs(take(first, 3)) == [0, 1, 2]
    second = consumer_for(st, app_id="shared-app", reconnect_backoff=0.1, max_backoff=0.5)
    assert second.poll(1.5) is None  # refused with 401 while the first holds the appId
    first.close()
    assert seqs(take(second, 3)) == [0, 1, 2]


def test_bad_credentials_stop_the_consumer_with_an_auth_error(
    server: RunningServer, consumer_for: Any, credentials: tuple[str, str]
) -> None:
    consumer = consumer_for(new_sourcetype(), client_secret="wrong")
    with pytest.raises(AuthError, match="access denied"):
        take(consumer, 1)
    assert consumer.poll(0) is None
    assert stream_threads() == []


def test_an_invalid_app_id_is_a_final_error(consumer_for: Any) -> None:
    with pytest.raises(ResponseError) as info:
        take(consumer_for(new_sourcetype(), app_id="not a valid app id"), 1)
    assert info.value.status == 400


def test_close_stops_every_thread_and_ends_iteration(
    server: RunningServer, consumer_for: Any
) -> None:
    st = new_sourcetype()
    send(server, st, range(200))
    consumer = consumer_for(st, max_pending=1)  # the readers block on a full queue
    take(consumer, 1)
    assert stream_threads()
    consumer.close()
    assert stream_threads() == []
    assert list(consumer) == []


def test_bad_settings_are_refused_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="app_id"):
        StreamConsumer("http://127.0.0.1:1", client_id="a", client_secret="b", app_id="")
    with pytest.raises(ConfigError, match="tail"):
        StreamConsumer(
            "http://127.0.0.1:1", client_id="a", client_secret="b", app_id="x", offset=3, tail=True
        )
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(ConfigError, match="checkpoint"):
        StreamConsumer(
            "http://127.0.0.1:1", client_id="a", client_secret="b", app_id="x", checkpoint=bad
        )


def test_no_secret_or_token_reaches_the_debug_logs(
    server: RunningServer, consumer_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client_id, secret = api_client(server)
    st = new_sourcetype()
    send(server, st, range(3))
    with caplog.at_level(logging.DEBUG):
        consumer = consumer_for(
            st, client_id=client_id, client_secret=secret, refresh_interval=0.2, app_id="quiet"
        )
        take(consumer, 3)
        wait_for(lambda: consumer.stats.refreshes >= 2, timeout=30)
        consumer.close()
    text = caplog.text + repr(consumer) + repr(consumer.auth)
    assert "session refreshed" in text and "OAuth2 token for client" in text
    assert consumer.auth.token_value and consumer.auth.token_value not in text
    assert secret not in text
    assert not re.findall(r"[A-Za-z0-9_-]{40,}", text)  # no session token, no access token
