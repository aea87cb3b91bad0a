"""The collector's HEC sinks. ``open_delivery`` lives here: the runner's
:class:`~lakehose.collector.delivery.OpenDelivery`, used as
``delivery = await open_delivery(sink_config, data_dir)``.

A sink keeps its files under ``<dataDirectory>/sinks/<name>/``: the disk queue's
segments in ``queue/`` and the events it will never send, each with the reason,
in ``deadletter.ndjson`` (rotated to ``deadletter.ndjson.1``, ``.2``, ... by size).
"""

from __future__ import annotations

import re
from pathlib import Path

from lakehose.collector.delivery import Delivery, SinkConfig
from lakehose.collector.queue import MiB, open_queue
from lakehose.collector.sink.deadletter import DeadLetters
from lakehose.collector.sink.delivery import QueuedDelivery
from lakehose.collector.sink.hec import SinkHEC

__all__ = ["QueuedDelivery", "open_delivery", "sink_directory"]


def sink_directory(data_dir: Path, name: str) -> Path:
    """``<dataDirectory>/sinks/<name>``, the name made safe as one path component."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".") or "_"
    return Path(data_dir) / "sinks" / safe


async def open_delivery(sink: SinkConfig, data_dir: Path) -> Delivery:
    """Open ``sink``'s queue (a disk queue resumes what it holds) and start sending."""
    directory = sink_directory(data_dir, sink.name)
    hec = SinkHEC(sink)
    queue = open_queue(sink.queue, directory / "queue", sink.name)
    dead = DeadLetters(
        directory / "deadletter.ndjson",
        sink.name,
        max_bytes=int(sink.dead_letter.max_file_size_mb * MiB),
        max_files=sink.dead_letter.max_files,
    )
    delivery = QueuedDelivery(sink, queue, hec, dead)
    delivery.start()
    return delivery
