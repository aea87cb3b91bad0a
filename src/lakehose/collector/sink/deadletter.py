"""The dead-letter file: events a sink will never send, each with the reason, kept on disk."""

from __future__ import annotations

import logging
import os
import threading
from datetime import UTC, datetime
from pathlib import Path

import orjson

log = logging.getLogger(__name__)


class DeadLetters:
    """Appends ``{"time", "sink", "reason", "event"}`` lines to ``path``, fsynced before the
    queue forgets the event: a refused event is set aside, never silently lost.

    ``event`` is the HEC envelope exactly as it was (or would have been) sent.
    """

    def __init__(self, path: Path, sink: str) -> None:
        self.path = path
        self.sink = sink
        self.count = 0
        self._lock = threading.Lock()

    def add(self, lines: list[bytes], reason: str) -> None:
        """Set ``lines`` (envelope lines) aside with ``reason``; durable when this returns."""
        if not lines:
            return
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        head = orjson.dumps({"time": stamp, "sink": self.sink, "reason": reason})[:-1]
        out = bytearray()
        for line in lines:
            out += head + b',"event":' + line.rstrip(b"\n") + b"}\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                view = memoryview(out)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            self.count += len(lines)
        log.warning(
            "sink %s: %d event(s) set aside in %s: %s", self.sink, len(lines), self.path, reason
        )
