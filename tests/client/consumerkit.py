"""Helpers for the stream SDK tests: API clients, tagged events, bounded reads."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from typing import Any

import httpx
import orjson

from lakehose.client import AsyncStreamConsumer, StreamConsumer
from lakehose.testing import RunningServer
from tests.helpers import cli_json

# A short session everywhere: 2 s without grace, keep-alives every 0.5 s.
SHORT_SESSIONS = ["--session-ttl", "2", "--session-grace", "0", "--heartbeat-interval", "0.5"]


def api_client(server: RunningServer, *scopes: str) -> tuple[str, str]:
    """``(client_id, client_secret)`` of a new API client (``streams:read`` by default)."""
    args = ["client", "create", f"sdk-{uuid.uuid4().hex[:8]}"]
    for scope in scopes or ("streams:read",):
        args += ["--scope", scope]
    created = cli_json(*args, data_dir=server.data_dir)
    return str(created["client_id"]), str(created["client_secret"])


def new_sourcetype() -> str:
    """A sourcetype of its own, so a test reads only its events (``event_types=[...]``)."""
    return f"st{uuid.uuid4().hex[:10]}"


def send(
    server: RunningServer,
    sourcetype: str,
    seqs: Iterable[int],
    key: str | None = None,
    channel: str | None = None,
) -> None:
    """Send ``{"seq": n}`` events with ``sourcetype``, in one request."""
    body = b"".join(orjson.dumps({"event": {"seq": n}, "sourcetype": sourcetype}) for n in seqs)
    headers = {"Authorization": f"Splunk {key or server.api_key}"}
    if channel is not None:
        headers["X-Splunk-Request-Channel"] = channel
    reply = httpx.post(server.hec_url, content=body, headers=headers, timeout=30)
    assert reply.status_code == 200, reply.text


def take(consumer: StreamConsumer, count: int, timeout: float = 60.0) -> list[Any]:
    """The next ``count`` events; fails if they do not all come within ``timeout``."""
    out: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(out) < count:
        left = deadline - time.monotonic()
        event = consumer.poll(max(0.0, left)) if left > 0 else None
        if event is None:
            raise AssertionError(f"got {len(out)} of {count} events within {timeout} s")
        out.append(event)
    return out


async def atake(consumer: AsyncStreamConsumer, count: int, timeout: float = 60.0) -> list[Any]:
    out: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(out) < count:
        left = deadline - time.monotonic()
        event = await consumer.poll(max(0.0, left)) if left > 0 else None
        if event is None:
            raise AssertionError(f"got {len(out)} of {count} events within {timeout} s")
        out.append(event)
    return out


def seqs(events: list[Any]) -> list[int]:
    return [e["event"]["seq"] for e in events]


def offsets(events: list[Any]) -> list[int]:
    return [e["metadata"]["offset"] for e in events]


def stream_threads() -> list[str]:
    import threading

    return [t.name for t in threading.enumerate() if t.name.startswith("lakehose-stream")]
