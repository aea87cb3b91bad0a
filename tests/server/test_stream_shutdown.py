"""Stopping the server ends open data feeds cleanly, without waiting for them to drain."""

from __future__ import annotations

from pathlib import Path

from lakehose.testing import run_server
from tests.server.streamkit import first_stream, numbered, open_feed, send, stream_token


def test_sigterm_ends_an_open_feed_with_a_complete_body_and_exit_code_0(data_dir: Path) -> None:
    with run_server(data_dir, workers=2, args=["--heartbeat-interval", "0.5"]) as server:
        send(server, numbered(0, 3))
        token = stream_token(server, "shutdown-reader")
        feed = open_feed(first_stream(server, token, "shutdownapp"))
        with feed:
            assert [e["event"]["seq"] for e in feed.events(3)] == [0, 1, 2]
            assert server.stop() == 0
            feed.wait_for_end()
            # ended by the server (a complete chunked body), not cut off after a graceful timeout
            assert feed.ended_cleanly, feed.error
