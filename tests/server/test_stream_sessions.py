"""Stream sessions: expiry ends the feed cleanly, refresh extends it, revocation ends it.

The server here uses a 2 s session without grace and 0.5 s keep-alives, so nothing
waits for minutes; assertions never depend on how fast the machine is, only on the
order of events (a refresh every 0.3 s keeps a 2 s session alive). A loaded machine can
take longer than the session between a discovery and the feed or refresh that follows:
then the test discovers again (``live_feed``, ``order_refreshes``), or tries again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from lakehose.testing import RunningServer, run_server
from tests.helpers import cli
from tests.server.streamkit import (
    END,
    FeedReader,
    bearer,
    first_stream,
    new_client,
    open_feed,
    stream_token,
    token_of,
)

TTL = 2
REFRESH = "/sensors/entities/datafeed-actions/v1/0"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    args = ["--session-ttl", str(TTL), "--session-grace", "0", "--heartbeat-interval", "0.5"]
    with run_server(tmp_path_factory.mktemp("lake") / "data", args=args) as s:
        yield s


@pytest.fixture(scope="module")
def token(server: RunningServer) -> str:
    return stream_token(server, "session-reader")


def expiration(resource: dict[str, Any]) -> float:
    return datetime.fromisoformat(resource["sessionToken"]["expiration"]).timestamp()


def sleep_past(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()) + 0.2)


def refresh(server: RunningServer, token: str, app: str, **kwargs: Any) -> httpx.Response:
    return httpx.post(
        server.url + REFRESH,
        params={"action_name": "refresh_active_stream_session", "appId": app},
        headers={**bearer(token), **kwargs.pop("headers", {})},
        **kwargs,
    )


def live_feed(
    server: RunningServer, token: str, app: str, query: str = "&whence=2"
) -> tuple[dict[str, Any], FeedReader]:
    """Discover ``app`` and open its feed: again when the feed was refused as expired (the
    machine took longer than the 2 s session between the two)."""
    for _ in range(5):
        resource = first_stream(server, token, app)
        feed = open_feed(resource, query)
        if feed.status != 401:
            return resource, feed
        feed.close()
    raise AssertionError(f"five sessions of {app} ended before their feed opened")


def test_the_feed_ends_cleanly_when_the_session_expires(server: RunningServer, token: str) -> None:
    resource, feed = live_feed(server, token, "expiring")
    with feed:
        assert feed.status == 200
        lines = feed.wait_for_end(timeout=30)
        assert feed.ended_cleanly and feed.error is None
    assert time.time() >= expiration(resource)
    assert all(line == b"\r" for line in lines)


def test_an_expired_session_token_is_refused(server: RunningServer, token: str) -> None:
    resource = first_stream(server, token, "stale")
    sleep_past(expiration(resource))
    with open_feed(resource) as feed:
        assert feed.status == 401
        assert b"expired" in feed.body
    assert refresh(server, token, "stale").status_code == 404


def refreshed_feed(server: RunningServer, token: str, app: str) -> tuple[bool, list[int]]:
    """Open ``app``'s feed and refresh its session every 0.3 s, each way a client does, until
    a whole TTL past the session's first expiry: whether the feed was still open then, and
    every refresh's status."""
    resource, feed = live_feed(server, token, app)
    bodies: list[dict[str, Any]] = [
        {"json": {}},  # FalconPy
        {"headers": {"Content-Type": "application/json"}},  # Elastic: no body
        {"content": b"ping", "headers": {"Content-Type": "text/plain"}},
        {"json": {"action_name": "refresh_active_stream_session", "appId": app}},
    ]
    answers: list[int] = []
    stop = threading.Event()

    def refresher() -> None:
        n = 0
        while not stop.wait(0.3):
            answers.append(
                httpx.post(
                    resource["refreshActiveSessionURL"],
                    headers={**bearer(token), **bodies[n % 4].get("headers", {})},
                    timeout=60,
                    **{k: v for k, v in bodies[n % 4].items() if k != "headers"},
                ).status_code
            )
            n += 1

    with feed:
        thread = threading.Thread(target=refresher)
        thread.start()
        try:
            sleep_past(expiration(resource) + TTL)
            alive = feed.lines.qsize() > 0 and END not in list(feed.lines.queue)
        finally:
            stop.set()
            thread.join()
        if alive:
            assert feed.wait_for_end(timeout=30) is not None and feed.ended_cleanly
    return alive, answers


def test_refresh_keeps_the_session_alive_past_its_first_expiry(
    server: RunningServer, token: str
) -> None:
    # Each refresh must reach the server within the 2 s TTL of the one before. On a machine
    # too loaded for that the session ends (later refreshes answer 404), and the test tries
    # again: refreshes that do not keep the feed open fail all three.
    for attempt in range(3):
        alive, answers = refreshed_feed(server, token, f"Refreshed{attempt}")
        if not alive or 404 in answers:
            continue
        assert answers and set(answers) == {200}, answers
        return
    raise AssertionError("in three tries, a refresh always came after the session's end")


def test_refresh_answers_with_the_falcon_envelope_in_either_query_order(
    server: RunningServer, token: str
) -> None:
    for _ in range(5):  # each refresh must come within the 2 s session: else discover again
        resource = first_stream(server, token, "order")
        by_url = httpx.post(resource["refreshActiveSessionURL"], headers=bearer(token), json={})
        if by_url.status_code == 404:
            continue
        assert by_url.status_code == 200
        body = by_url.json()
        assert body["errors"] == [] and body["meta"]["trace_id"]
        if (again := refresh(server, token, "ORDER").status_code) != 404:
            assert again == 200
            return
    raise AssertionError("five sessions ended before their refreshes came")


def test_refresh_without_a_live_session_gets_404_and_bad_requests_get_400(
    server: RunningServer, token: str
) -> None:
    first_stream(server, token, "mine")
    other = stream_token(server, "session-other")
    assert refresh(server, token, "neverdiscovered").status_code == 404
    assert refresh(server, other, "mine").status_code == 404
    unknown_partition = httpx.post(
        server.url + "/sensors/entities/datafeed-actions/v1/3",
        params={"action_name": "refresh_active_stream_session", "appId": "mine"},
        headers=bearer(token),
    )
    assert unknown_partition.status_code == 404
    wrong_action = httpx.post(
        server.url + REFRESH, params={"action_name": "stop", "appId": "mine"}, headers=bearer(token)
    )
    assert wrong_action.status_code == 400
    for reply in (wrong_action, refresh(server, token, "neverdiscovered")):
        assert reply.json()["errors"][0]["message"]
    assert refresh(server, token, "bad app id").status_code == 400
    assert httpx.post(server.url + REFRESH + "?appId=mine").status_code == 401


def test_revoking_the_client_ends_its_open_feed(server: RunningServer) -> None:
    client = new_client(server, "revoked-reader")
    token = token_of(server, client)
    resource, feed = live_feed(server, token, "cut")
    with feed:
        assert feed.status == 200
        cli("client", "revoke", "revoked-reader", "--yes", data_dir=server.data_dir)
        feed.wait_for_end(timeout=30)
        assert feed.ended_cleanly
    with open_feed(resource) as again:
        assert again.status == 401
