"""A data feed's bytes cut into events: lines split, keep-alives skipped, repeats dropped (no I/O).

Work is split so that a feed's reader thread does almost none: :class:`FeedCutter`
cuts each network chunk at its last line end and decodes only the block's last event
(to know where to reconnect), and :class:`FeedEvents`, on the caller's side, decodes
the events one by one as they are handed out. Each event is decoded once, in the
thread that uses it.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

log = logging.getLogger(__name__)

MAX_LINE_BYTES = 16 * 1024 * 1024
_MIN_EVENT = 4  # bytes: any shorter line is a keep-alive (``\r``) or junk


class FeedLineError(ValueError):
    """The feed sent a line too long to be an event: the connection is dropped."""


def event_offset(line: bytes) -> int | None:
    """``metadata.offset`` of a feed line, or None if it is not an event."""
    try:
        offset = orjson.loads(line)["metadata"]["offset"]
    except (orjson.JSONDecodeError, KeyError, TypeError, IndexError):
        return None
    return offset if type(offset) is int else None


class FeedCutter:
    """Cuts one partition's feed into blocks of whole lines, and tracks the last offset read.

    ``last`` is the offset of the last event read on the partition, across connections
    (None before the first): the next connection starts at ``last + 1``.
    """

    def __init__(self, partition: int, last: int | None) -> None:
        self.partition = partition
        self.last = last
        self._pending = b""

    def reset(self) -> None:
        """A new connection: forget a partial line of the old one."""
        self._pending = b""

    def feed(self, chunk: bytes) -> bytes:
        """The whole lines that ``chunk`` completes, if they hold an event (else ``b""``)."""
        data = self._pending + chunk if self._pending else chunk
        cut = data.rfind(b"\n") + 1
        block, self._pending = data[:cut], data[cut:]
        if len(self._pending) > MAX_LINE_BYTES:
            self._pending = b""
            raise FeedLineError(f"partition {self.partition}: a line over {MAX_LINE_BYTES} bytes")
        return self._keep(block)

    def finish(self) -> bytes:
        """The body ended cleanly: a last line without a line end counts if it is an event."""
        rest, self._pending = self._pending, b""
        return self._keep(rest + b"\n") if event_offset(rest) is not None else b""

    def _keep(self, block: bytes) -> bytes:
        """``block`` if it holds an event (noting the last one's offset), else ``b""``."""
        end = len(block) - 1  # where the last line ends (its "\n")
        while end >= 0:
            start = block.rfind(b"\n", 0, end) + 1
            if end - start > _MIN_EVENT:
                offset = event_offset(block[start:end])
                if offset is not None:
                    if self.last is None or offset > self.last:
                        self.last = offset
                    return block
            end = start - 1
        return b""


class FeedEvents:
    """Hands out the events of the blocks the readers cut, decoding each once.

    A line that is not a JSON object with an integer ``metadata.offset`` is skipped and
    counted (as Elastic's consumer does); an event at or below the last offset handed
    out on its partition is dropped, so a server that replays never causes a
    duplicate. With ``raw`` an event is the line's text, else the decoded object.
    """

    def __init__(self, handed_out: dict[int, int], raw: bool = False) -> None:
        self.handed_out = handed_out
        self.raw = raw
        self.skipped = 0
        self._partition = 0
        self._lines: list[bytes] = []
        self._index = 0

    def add(self, partition: int, block: bytes) -> None:
        """The next block to hand out (the previous one is finished)."""
        self._partition = partition
        self._lines = block.split(b"\n")
        self._index = 0

    def next(self) -> tuple[int, int, Any] | None:
        """``(partition, offset, event)`` of the next event of the block, or None at its end."""
        lines = self._lines
        p = self._partition
        while self._index < len(lines):
            line = lines[self._index]
            self._index += 1
            if len(line) <= _MIN_EVENT and not line.strip():
                continue
            try:
                obj = orjson.loads(line)
                offset = obj["metadata"]["offset"]
            except (orjson.JSONDecodeError, KeyError, TypeError, IndexError):
                self._skip(p, line)
                continue
            if type(offset) is not int:
                self._skip(p, line)
                continue
            last = self.handed_out.get(p)
            if last is not None and offset <= last:
                continue
            self.handed_out[p] = offset
            if self.raw:
                return p, offset, line.rstrip(b"\r").decode("utf-8", "replace")
            return p, offset, obj
        return None

    def _skip(self, partition: int, line: bytes) -> None:
        self.skipped += 1
        if self.skipped == 1 or self.skipped % 1000 == 0:
            log.warning(
                "partition %d: skipped %d line(s) that are not events, e.g. %r",
                partition,
                self.skipped,
                line[:100],
            )
