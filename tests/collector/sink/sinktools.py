"""Helpers for sink tests: sink configs for a real server, events marked by run, the lake."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

from lakehose.collector.delivery import CollectedEvent, QueueConfig, SinkConfig
from lakehose.collector.sink import sink_directory
from lakehose.testing import RunningServer
from tests.helpers import stored_events


def sink_for(server: RunningServer, token: str | None = None, **options: Any) -> SinkConfig:
    """A ``type: hec`` sink to ``server`` (a fresh name each time), with ``options``."""
    queue = options.pop("queue", QueueConfig(flush_timeout_ms=50))
    config = SinkConfig(
        name=f"sink-{uuid.uuid4().hex[:8]}",
        url=server.url,
        token=token or server.api_key or "",
        queue=queue,
    )
    return replace(config, **options)


def marked(run: str, start: int, stop: int, **meta: Any) -> list[CollectedEvent]:
    """Events ``"<run> <n>"`` for n in start..stop-1."""
    return [CollectedEvent(f"{run} {n}", **meta) for n in range(start, stop)]


def lake_numbers(server: RunningServer, run: str) -> Counter[int]:
    """How many times each ``"<run> <n>"`` event is in the lake."""
    found: Counter[int] = Counter()
    prefix = run + " "
    for event in stored_events(server.data_dir):
        text = event["event"]
        if isinstance(text, str) and text.startswith(prefix):
            found[int(text[len(prefix) :])] += 1
    return found


def dead_letters(data_dir: Path, sink: SinkConfig) -> list[dict[str, Any]]:
    path = sink_directory(data_dir, sink.name) / "deadletter.ndjson"
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]
