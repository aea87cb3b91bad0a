"""Ctrl-C on ``lakehose serve`` (issue 18, item 5): a clean stop even with a stream consumer that
vanished mid-feed, exit status 0, no ``Aborted!``, no traceback, no ``uvicorn.error`` lines, and
in JSON mode access-log lines whose fields are fields."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import orjson
import pytest

from lakehose.client import EventStreams
from tests.helpers import cli_json, new_lake


@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_stops_cleanly_with_a_vanished_consumer_and_logs_fields(
    tmp_path: Path, workers: int
) -> None:
    data = new_lake(tmp_path / "data")
    made = cli_json("client", "create", "r", "--scope", "streams:read", data_dir=data)
    key = cli_json("connector", "create", "c", data_dir=data)["api_key"]
    log_path = tmp_path / "stderr.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "lakehose", "serve", "--data-dir", str(data), "--port", "0"]
            + ["--workers", str(workers), "--log-format", "json", "--heartbeat-interval", "1s"],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            start_new_session=True,
        )
    try:
        assert server.stdout is not None
        url = next(line.split()[2] for line in server.stdout if line.startswith("Listening on"))
        reply = httpx.post(
            url + "/services/collector",
            content=b'{"event": "x"}{"event": "y"}',
            headers={"Authorization": f"Splunk {key}"},
        )
        assert reply.json()["code"] == 0
        with EventStreams(
            client_id=made["client_id"], client_secret=made["client_secret"], base_url=url
        ) as streams:
            stream = streams.discover("vanishing")[0]
        # A consumer that opens the feed and then never reads nor closes: gone, as far as
        # anyone can tell, while its connection stays up.
        feed = urlsplit(stream.data_feed_url)
        vanished = socket.create_connection((feed.hostname, feed.port))
        vanished.sendall(
            f"GET {feed.path}?{feed.query} HTTP/1.1\r\nHost: {feed.netloc}\r\n"
            f"Authorization: Token {stream.session_token}\r\n\r\n".encode()
        )
        assert vanished.recv(12) == b"HTTP/1.1 200"
        time.sleep(1.5)  # keep-alives go out into the socket buffers
        stopped_at = time.monotonic()
        server.send_signal(signal.SIGINT)
        code = server.wait(timeout=60)
        took = time.monotonic() - stopped_at
        vanished.close()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        if server.stdout is not None:
            server.stdout.close()
    print(f"\nCtrl-C to exit with {workers} worker(s) and a vanished consumer: {took:.2f} s")
    logs = log_path.read_text()
    assert code == 0, logs[-3000:]
    for bad in ("Aborted!", "Traceback", "CancelledError", "uvicorn.error", '"level":"error"'):
        assert bad not in logs, (bad, logs[-3000:])
    lines = [orjson.loads(line) for line in logs.splitlines() if line.startswith("{")]
    assert len(lines) == len(logs.splitlines())  # every line is JSON
    assert any(line["logger"] == "lakehose.server" for line in lines)
    access = [line for line in lines if line["logger"] == "lakehose.access" and "hec_code" in line]
    assert access, logs
    entry = access[0]
    assert {
        "request_id",
        "client",
        "method",
        "path",
        "status",
        "hec_code",
        "connector",
        "events",
        "bytes",
        "duration_ms",
    } <= entry.keys()
    assert (entry["method"], entry["path"], entry["status"], entry["hec_code"]) == (
        "POST",
        "/services/collector",
        200,
        0,
    )
    assert (entry["connector"], entry["events"], entry["bytes"]) == ("c", 2, 28)
    assert entry["client"] == "127.0.0.1" and isinstance(entry["duration_ms"], float)
