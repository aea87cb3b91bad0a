"""A consumer that opens the data feed and stops reading (issue 6, faults).

The server must neither hold ingest back for it nor buffer the events it does not take
(uvicorn's flow control stops the feed's pump once the socket buffers are full), and
after ``feed_stall_timeout`` it disconnects it with a logged reason; the consumer then
resumes from the last event it read. Each test runs its own server.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson

from lakehose.testing import RunningServer, run_server
from tests.helpers import process_rss, wait_for
from tests.server.streamkit import first_stream, stream_token

PAD = "x" * 400  # ~0.5 kB an event, so a few seconds of ingest outgrow every socket buffer
BATCH = 500


def ingest(server: RunningServer, start: int, count: int) -> int:
    """Send events ``start`` .. ``start + count - 1``; every request must be accepted. Bytes sent."""
    sent = 0
    with httpx.Client(headers={"Authorization": f"Splunk {server.api_key}"}, timeout=30) as c:
        for first in range(start, start + count, BATCH):
            body = b"".join(
                orjson.dumps({"event": {"n": n, "pad": PAD}})
                for n in range(first, min(first + BATCH, start + count))
            )
            reply = c.post(server.hec_url, content=body)
            assert (reply.status_code, reply.json()) == (200, {"text": "Success", "code": 0})
            sent += len(body)
    return sent


@contextmanager
def open_feed(resource: dict[str, Any], offset: int) -> Iterator[httpx.Response]:
    """A data feed whose headers were read, and whose body is read only when the test says.

    The receive buffer is fixed at 256 kB (the kernel would grow it to megabytes): still
    over loopback's MSS (64 kB; smaller windows make TCP itself stall), and small enough
    that a few seconds of ingest outgrow every buffer between the server and the test.
    """
    options = [(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)]
    transport = httpx.HTTPTransport(socket_options=options)
    with httpx.Client(transport=transport, timeout=httpx.Timeout(30.0)) as client:
        request = client.build_request(
            "GET",
            resource["dataFeedURL"] + f"&offset={offset}",
            headers={"Authorization": f"Token {resource['sessionToken']['token']}"},
        )
        response = client.send(request, stream=True)
        assert response.status_code == 200
        try:
            yield response
        finally:
            response.close()


def read_events(
    response: httpx.Response, start: int = 0, want: int | None = None
) -> tuple[list[int], str]:
    """The ``n`` of each whole event line (``want`` of them at most), and how the body ended.

    Offsets must be dense from ``start``: no gap, no repeat."""
    got: list[int] = []
    pending = b""
    try:
        for chunk in response.iter_bytes():
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if line.strip():
                    event = orjson.loads(line)
                    assert event["metadata"]["offset"] == start + len(got)
                    got.append(event["event"]["n"])
                    if len(got) == want:
                        return got, "stopped reading"
    except httpx.RemoteProtocolError as exc:
        return got, f"broken: {exc}"
    return got, "ended cleanly"


def rss(server: RunningServer) -> int:
    assert server.proc is not None
    return sum(process_rss(server.proc.pid).values())


def test_a_consumer_that_stops_reading_holds_back_neither_ingest_nor_memory(
    data_dir: Path,
) -> None:
    # the stall timeout is long enough that the server never gives up on it here
    args = ["--heartbeat-interval", "0.5", "--feed-stall-timeout", "600"]
    with run_server(data_dir, args=args) as server:
        token = stream_token(server, "stall-readers")
        ingest(server, 0, 10_000)  # warm up: caches, connections, the first feed steps
        with open_feed(first_stream(server, token, "stalled"), 0) as stalled:
            before = rss(server)
            first = ingest(server, 10_000, 80_000)  # ~40 MB that the stalled consumer never reads
            middle = rss(server)
            second = ingest(server, 90_000, 80_000)  # and as much again
            after = rss(server)
            # A server that buffered the feed would hold at least what it was sent, and grow
            # with it: the second half, sent as the first was, must add next to nothing. The
            # first half holds the pump's own working set (one step's batches, rendered, while
            # the loop is its for up to TURN: ~12 MB) and the allocator's high-water marks of
            # ingest, which grow with a loaded machine's larger commit groups (46 MB seen at
            # load 20): bounded by what was sent, not by a fraction of it.
            assert after - before < first + second, (before, middle, after, first)
            assert after - middle < second / 4, (before, middle, after, second)
            # others are served meanwhile: a second consumer replays everything
            with open_feed(first_stream(server, token, "healthy"), 0) as healthy:
                got, _ = read_events(healthy, want=170_000)
                assert got == list(range(170_000))
            # and the stalled one, reading at last, gets everything too, from where it stopped
            got, _ = read_events(stalled, want=170_000)
            assert got == list(range(170_000))
        assert "read nothing for" not in server.logs()


def test_a_stalled_consumer_is_disconnected_with_a_logged_reason_and_resumes(
    data_dir: Path,
) -> None:
    args = ["--heartbeat-interval", "0.5", "--feed-stall-timeout", "1"]
    with run_server(data_dir, args=args) as server:
        token = stream_token(server, "stall-reader")
        ingest(server, 0, 40_000)
        with open_feed(first_stream(server, token, "sleepy"), 0) as stalled:
            wait_for(lambda: "appId sleepy read nothing for 1 s" in server.logs(), timeout=30)
            got, ending = read_events(stalled)
        assert ending.startswith("broken"), ending  # cut off, not a clean end of the session
        assert 0 < len(got) < 40_000
        assert "end=consumer too slow" in server.logs()  # the access log names the reason
        # the appId is free again: it resumes after the last event it read, nothing lost
        with open_feed(first_stream(server, token, "sleepy"), len(got)) as resumed:
            rest, _ = read_events(resumed, start=len(got), want=40_000 - len(got))
        assert got + rest == list(range(40_000))
