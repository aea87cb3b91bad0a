"""Cut encoded events into request-sized batches, and compress request bodies."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from lakehose.client._payload import JSON_OPTIONS, json_default, raw_line

Compression = Literal["gzip", "zstd"]
COMPRESSIONS: tuple[str, ...] = ("gzip", "zstd")


@dataclass(slots=True)
class Batch:
    """Consecutive events ``first .. first+count-1``, encoded one per line in ``body``.

    ``offsets[i]`` is where event i's line starts and ``offsets[-1]`` is the body's
    length, so any run of events is one slice. (One buffer per batch, not one bytes
    object per event: keeping many small orjson results alive is slow and costs far
    more memory than their length.) ``raw``: the lines are for the raw endpoint.
    ``text``: the lines go to the event endpoint as one JSON string (FalconPy's
    ``send_event_file``). ``error`` marks an event that could not be encoded: a batch
    of its own, with an empty body, that the sender reports without sending.
    """

    first: int
    body: bytes
    offsets: list[int]
    raw: bool = False
    error: str | None = None
    text: bool = False

    @property
    def count(self) -> int:
        return 1 if self.error is not None else len(self.offsets) - 1

    def lines(self, lo: int, hi: int) -> bytes:
        """Events ``lo .. hi-1`` of this batch, newline-terminated."""
        return self.body[self.offsets[lo] : self.offsets[hi]]


def iter_batches(
    events: Iterable[Any],
    *,
    shape: Callable[[Any], Any] | None = None,
    as_json: bool = True,
    max_events: int,
    max_bytes: int,
    raw: bool = False,
    text: bool = False,
) -> Iterator[Batch]:
    """Encode events and group them into batches of at most ``max_events`` and about
    ``max_bytes``.

    Each event becomes one line: the JSON of ``shape(event)`` (or of the event) when
    ``as_json``, else the event as text (:func:`raw_line`). A batch closes before an
    event that would take it past ``max_bytes`` (counting one newline per event), so
    only an event larger than ``max_bytes`` on its own makes a larger batch. An event
    that cannot be encoded becomes an error batch. This is the per-event hot loop of
    a large send, hence one function.
    """
    buffer = bytearray()
    offsets = [0]
    index = 0
    dumps, default, option = orjson.dumps, json_default, JSON_OPTIONS
    for event in events:
        try:
            if as_json:
                line = dumps(shape(event) if shape is not None else event, default, option)
            else:
                line = raw_line(event)
        except (TypeError, ValueError, AttributeError) as exc:
            if len(offsets) > 1:
                yield Batch(index - len(offsets) + 1, bytes(buffer), offsets, raw, None, text)
                buffer, offsets = bytearray(), [0]
            reason = f"event cannot be encoded: {exc}"
            yield Batch(index, b"", [0], raw, reason, text)
            index += 1
            continue
        if len(offsets) > 1 and (
            len(offsets) > max_events or len(buffer) + len(line) + 1 > max_bytes
        ):
            yield Batch(index - len(offsets) + 1, bytes(buffer), offsets, raw, None, text)
            buffer, offsets = bytearray(), [0]
        buffer += line
        buffer += b"\n"
        offsets.append(len(buffer))
        index += 1
    if len(offsets) > 1:
        yield Batch(index - len(offsets) + 1, bytes(buffer), offsets, raw, None, text)


def compress(body: bytes, compression: str | None, level: int | None = None) -> bytes:
    """``body`` gzip- or zstd-compressed (zstandard is imported only when zstd is used)."""
    if compression is None:
        return body
    if compression == "gzip":
        # zlib with a gzip wrapper (wbits 31): the same format as gzip.compress, less overhead
        c = zlib.compressobj(1 if level is None else level, zlib.DEFLATED, 31)
        return c.compress(body) + c.flush()
    if compression == "zstd":
        import zstandard  # lazily: only senders that choose zstd need it

        # a compressor per call: they are not safe to share between threads
        return bytes(zstandard.ZstdCompressor(level=3 if level is None else level).compress(body))
    raise ValueError(f"unknown compression {compression!r}; use gzip or zstd")
