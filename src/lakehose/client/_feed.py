"""A data feed's bytes cut into events: lines split, keep-alives skipped, repeats dropped (no I/O)."""

from __future__ import annotations

import logging
from typing import Any

import orjson

log = logging.getLogger(__name__)

MAX_LINE_BYTES = 16 * 1024 * 1024


class FeedLineError(ValueError):
    """The feed sent a line too long to be an event: the connection is dropped."""


class FeedLines:
    """Turns the byte chunks of one connection into ``(offset, event)`` pairs.

    Blank lines (the feed's ``\\r\\n`` keep-alives) are skipped; a line that is not a
    JSON object with an integer ``metadata.offset`` is skipped and counted in
    ``skipped`` (as Elastic's consumer does); an event whose offset is not above
    ``last`` (the last one taken on this partition, across connections) is dropped,
    so a server that replays from an earlier offset never causes a duplicate. With
    ``raw`` the event is the line's text, else the decoded object.
    """

    def __init__(self, partition: int, last: int | None, raw: bool = False) -> None:
        self.partition = partition
        self.last = last
        self.raw = raw
        self.skipped = 0
        self._pending = b""

    def reset(self) -> None:
        """A new connection: forget a partial line of the old one."""
        self._pending = b""

    def feed(self, chunk: bytes) -> list[tuple[int, Any]]:
        data = self._pending + chunk if self._pending else chunk
        lines = data.split(b"\n")
        self._pending = lines.pop()
        if len(self._pending) > MAX_LINE_BYTES:
            self._pending = b""
            raise FeedLineError(f"partition {self.partition}: a line over {MAX_LINE_BYTES} bytes")
        return self._events(lines) if lines else []

    def finish(self) -> list[tuple[int, Any]]:
        """The body ended cleanly: a last line without a line end counts if it is whole."""
        rest, self._pending = self._pending, b""
        if not rest.strip():
            return []
        try:
            orjson.loads(rest)
        except orjson.JSONDecodeError:
            return []
        return self._events([rest])

    def _events(self, lines: list[bytes]) -> list[tuple[int, Any]]:
        out: list[tuple[int, Any]] = []
        last = self.last
        for line in lines:
            if not line.strip():
                continue
            try:
                obj = orjson.loads(line)
                offset = obj["metadata"]["offset"]
            except (orjson.JSONDecodeError, KeyError, TypeError, IndexError):
                self._skip(line)
                continue
            if type(offset) is not int:
                self._skip(line)
                continue
            if last is not None and offset <= last:
                continue
            last = offset
            out.append((offset, line.rstrip(b"\r").decode("utf-8", "replace") if self.raw else obj))
        self.last = last
        return out

    def _skip(self, line: bytes) -> None:
        self.skipped += 1
        if self.skipped == 1 or self.skipped % 1000 == 0:
            log.warning(
                "partition %d: skipped %d line(s) that are not events, e.g. %r",
                self.partition,
                self.skipped,
                line[:100],
            )
