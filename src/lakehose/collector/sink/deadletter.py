"""The dead-letter file: events a sink will never send, each with the reason, kept on disk.

The file is bounded: once a write would take it past ``max_bytes`` it is rotated as
logrotate does (``deadletter.ndjson`` becomes ``.1``, ``.1`` becomes ``.2``, ...) and at
most ``max_files`` files are kept, the current one included; the oldest is deleted, and
that is logged with its size. One write larger than ``max_bytes`` still goes whole into a
fresh file: an event is never cut in two.
"""

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

    def __init__(
        self, path: Path, sink: str, max_bytes: int = 64 << 20, max_files: int = 5
    ) -> None:
        self.path = path
        self.sink = sink
        self.max_bytes = max(1, max_bytes)
        self.max_files = max(1, max_files)
        self.count = 0
        self.rotations = 0
        self._lock = threading.Lock()

    def rotated(self, n: int) -> Path:
        """The ``n``-th older file (``deadletter.ndjson.n``); 0 is the current one."""
        return self.path if n == 0 else self.path.with_name(f"{self.path.name}.{n}")

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
            try:
                size = self.path.stat().st_size
            except FileNotFoundError:
                size = 0
            if size and size + len(out) > self.max_bytes:
                self._rotate()
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

    def _rotate(self) -> None:
        """Shift the files up by one; the one past ``max_files`` goes (with the lock held)."""
        oldest = self.rotated(self.max_files - 1)
        if oldest.exists():
            size = oldest.stat().st_size
            oldest.unlink()
            log.warning(
                "sink %s: dead-letter files over %d x %d bytes: deleted the oldest, %s (%d bytes)",
                self.sink,
                self.max_files,
                self.max_bytes,
                oldest,
                size,
            )
        for n in range(self.max_files - 2, -1, -1):
            older = self.rotated(n)
            if older.exists():
                os.replace(older, self.rotated(n + 1))
        fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        self.rotations += 1
