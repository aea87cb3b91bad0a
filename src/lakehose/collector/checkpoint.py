"""Per-source checkpoints on disk: written whole, atomically, and only with delivered positions.

Theory of operation. A source keeps a small JSON document (file positions by identity, a
journald cursor) in ``<dataDirectory>/checkpoints/<source>.json``. Sources call :meth:`set`
only when a receipt (and every earlier one) has resolved, so anything on disk here is safe in
the sink. Writes are batched: :meth:`flush` runs at most every ``interval`` seconds and on
close; each write goes to a temporary file, is fsynced, renamed over the old one and the
folder fsynced, so a crash leaves either the old or the new document, never a torn one.
While running, the write happens on a worker thread (two fsyncs must not stall the event
loop), one at a time: a request during a write is folded into one write after it. A
crash between "delivered" and "written" means re-reading that window: duplicates, bounded
by one interval of traffic, never a loss.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger(__name__)


class CheckpointStore:
    """A JSON mapping of entries for one source, persisted atomically."""

    def __init__(self, directory: Path, source: str, interval: float = 0.2) -> None:
        self.path = directory / "checkpoints" / f"{source}.json"
        self.interval = interval
        self.entries: dict[str, Any] = {}
        self._dirty = False
        self._task: asyncio.Task[None] | None = None
        self._writing: asyncio.Task[None] | None = None
        self._again = False
        self.writes = 0
        try:
            data = orjson.loads(self.path.read_bytes())
            if isinstance(data, dict):
                self.entries = data
        except FileNotFoundError:
            pass
        except (OSError, orjson.JSONDecodeError) as exc:
            # A torn file cannot happen (rename), but a hand-edited one can: say so, start over.
            log.error("checkpoint %s unreadable (%s); starting without it", self.path, exc)

    def get(self, key: str) -> Any:
        return self.entries.get(key)

    def flush_soon(self) -> None:
        """Write now rather than at the next interval, off the event loop; a failure is
        logged and retried at the next interval."""
        if self._writing is not None and not self._writing.done():
            self._again = True
            return
        self._writing = asyncio.get_running_loop().create_task(self._write_behind())

    async def _write_behind(self) -> None:
        self._again = True
        while self._again:
            self._again = False
            if not self._dirty:
                return
            data = orjson.dumps(self.entries)
            self._dirty = False
            try:
                await asyncio.to_thread(self._write, data)
            except OSError as exc:
                self._dirty = True
                log.error("cannot write checkpoint %s: %s", self.path, exc)
                return

    def set(self, key: str, value: Any) -> None:
        self.entries[key] = value
        self._dirty = True

    def delete(self, key: str) -> None:
        if self.entries.pop(key, None) is not None:
            self._dirty = True

    def flush(self) -> None:
        """Write the document now if it changed."""
        if not self._dirty:
            return
        self._write(orjson.dumps(self.entries))
        self._dirty = False

    def _write(self, data: bytes) -> None:
        """Replace the document with ``data``: temporary file, fsync, rename, fsync the folder."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        self.writes += 1

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.flush_soon()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._writing is not None:
            await self._writing
        self.flush()
