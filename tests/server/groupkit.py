"""Helpers for the stream-extension tests: consumer-group calls, the sandbox clock, feed reading."""

from __future__ import annotations

from typing import Any

import httpx

from lakehose.testing import RunningServer
from tests.server.streamkit import FeedReader, bearer, first_stream, open_feed


def group(server: RunningServer, token: str, app_id: str) -> httpx.Response:
    return httpx.get(f"{server.url}/api/v1/stream-groups/{app_id}", headers=bearer(token))


def commit(
    server: RunningServer, token: str, app_id: str, offset: int, partition: int = 0
) -> httpx.Response:
    return httpx.post(
        f"{server.url}/api/v1/stream-groups/{app_id}/commit",
        json={"partition": partition, "offset": offset},
        headers=bearer(token),
    )


def committed(server: RunningServer, token: str, app_id: str) -> int | None:
    reply = group(server, token, app_id)
    if reply.status_code == 404:
        return None
    assert reply.status_code == 200, reply.text
    return int(reply.json()["resources"][0]["partitions"][0]["committed"])


def set_clock(server: RunningServer, admin_token: str, offset_seconds: float) -> None:
    """The sandbox clock: batches ingested from now on are stamped ``now + offset_seconds``."""
    reply = httpx.put(
        f"{server.url}/api/v1/sandbox/clock",
        json={"offset_seconds": offset_seconds},
        headers=bearer(admin_token),
    )
    assert reply.status_code == 200, reply.text


def feed(server: RunningServer, token: str, app_id: str, query: str = "") -> FeedReader:
    """Discover ``app_id`` and open partition 0's feed with ``query`` appended."""
    return open_feed(first_stream(server, token, app_id), query)


def offsets_of(events: list[dict[str, Any]]) -> list[int]:
    return [e["metadata"]["offset"] for e in events]


def drain(reader: FeedReader, quiet: float = 1.5) -> list[dict[str, Any]]:
    """Every event that arrives until no event has come for ``quiet`` seconds (keep-alives
    do not count), or the feed ends."""
    import queue
    import time

    import orjson

    from tests.server.streamkit import END

    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + quiet
    while True:
        try:
            line = reader.lines.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            return out
        if line is END:
            return out
        if line.strip():
            out.append(orjson.loads(line))
            deadline = time.monotonic() + quiet
        elif time.monotonic() >= deadline:
            return out
