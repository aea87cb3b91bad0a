"""Streams on a server with two worker processes: every rule must hold whichever worker answers.

Each request below opens its own connection, so the kernel spreads them over both
workers (SO_REUSEPORT); repeating a check several times makes it hit both.
"""

from __future__ import annotations

import base64
import os
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lakehose.testing import RunningServer, run_server
from tests.helpers import wait_for
from tests.server.streamkit import (
    discover,
    first_stream,
    new_client,
    open_feed,
    send,
    stream_token,
    token_of,
)

TRIES = 8


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_server(
        tmp_path_factory.mktemp("lake") / "data",
        workers=2,
        args=["--heartbeat-interval", "0.5"],
    ) as s:
        yield s


@pytest.fixture(scope="module")
def token(server: RunningServer) -> str:
    return stream_token(server, "workers-reader")


def test_live_tail_sees_events_committed_by_either_worker(
    server: RunningServer, token: str
) -> None:
    with open_feed(first_stream(server, token, "crossworker"), "&whence=2") as feed:
        assert feed.status == 200
        for n in range(20):
            send(server, [{"event": {"n": n}}])
        events = feed.events(20)
    assert [e["event"]["n"] for e in events] == list(range(20))
    offsets = [e["metadata"]["offset"] for e in events]
    assert offsets == sorted(offsets) and len(set(offsets)) == 20


def test_a_duplicate_appid_is_refused_on_every_worker_until_the_first_disconnects(
    server: RunningServer, token: str
) -> None:
    first = open_feed(first_stream(server, token, "solo"), "&whence=2")
    assert first.status == 200
    try:
        for _ in range(TRIES):
            with open_feed(first_stream(server, token, "solo")) as second:
                assert second.status == 401
    finally:
        first.close()

    def reopened() -> bool:
        with open_feed(first_stream(server, token, "solo"), "&whence=2") as again:
            return again.status == 200

    wait_for(reopened, timeout=20, interval=0.1)


def test_a_revoked_token_gets_401_on_every_worker(server: RunningServer) -> None:
    client = new_client(server, "workers-revoker")
    token = token_of(server, client)
    for _ in range(TRIES):
        assert discover(server, token, "before").status_code == 200
    pair = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
    reply = httpx.post(
        server.url + "/oauth2/revoke",
        data={"token": token},
        headers={"Authorization": f"basic {pair}"},
    )
    assert reply.status_code == 200
    for _ in range(TRIES):
        assert discover(server, token, "after").status_code == 401


def test_refresh_answers_200_on_every_worker_while_the_feed_runs(
    server: RunningServer, token: str
) -> None:
    resource = first_stream(server, token, "refreshworkers")
    with open_feed(resource, "&whence=2") as feed:
        assert feed.status == 200
        for _ in range(TRIES):
            reply = httpx.post(
                resource["refreshActiveSessionURL"],
                headers={"Authorization": f"Bearer {token}"},
                json={},
            )
            assert reply.status_code == 200
        send(server, [{"event": {"after": "refresh"}}])
        assert feed.events(1)[0]["event"] == {"after": "refresh"}


def test_the_appid_of_a_worker_that_died_is_free_at_once(tmp_path: Path) -> None:
    """With 30 s keep-alives the slot would look alive for 91 s; a dead owner frees it anyway."""
    args = ["--heartbeat-interval", "30"]
    with run_server(tmp_path / "data", workers=2, args=args) as s:
        token = stream_token(s, "crash-reader")
        feed = open_feed(first_stream(s, token, "phoenix"), "&whence=2")
        assert feed.status == 200
        with sqlite3.connect(s.data_dir / "catalog.db") as db:
            (owner,) = db.execute("SELECT owner FROM stream_connections").fetchone()
        os.kill(int(owner.split("-")[0]), signal.SIGKILL)
        feed.wait_for_end(timeout=30)
        feed.close()

        def reopened() -> bool:
            with open_feed(first_stream(s, token, "phoenix"), "&whence=2") as again:
                return again.status == 200

        wait_for(reopened, timeout=20, interval=0.2)
