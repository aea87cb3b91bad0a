"""Cut encoded events into request-sized batches, and compress request bodies."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any, Literal

import orjson

from lakehose.client.hec.inputs import InputError
from lakehose.client.hec.payload import JSON_OPTIONS, json_default, raw_line

Compression = Literal["gzip", "zstd"]
COMPRESSIONS: tuple[str, ...] = ("gzip", "zstd")


@dataclass(slots=True)
class Batch:
    """Consecutive events ``first .. first+count-1``, encoded one per line in ``body``.

    ``raw``: the lines are for the raw endpoint. ``text``: the lines go to the event
    endpoint as one JSON string (FalconPy's ``send_event_file``). ``error`` marks an
    event that could not be encoded: a batch of its own, with an empty body, that the
    sender reports without sending. ``offsets[i]`` is where event i's line starts and
    ``offsets[-1]`` the body's length; for JSON lines it is found when first needed
    (JSON text has no raw newline, so every newline ends an event).
    """

    first: int
    body: bytes
    count: int
    raw: bool = False
    error: str | None = None
    text: bool = False
    offsets: list[int] | None = None

    def lines(self, lo: int, hi: int) -> bytes:
        """Events ``lo .. hi-1`` of this batch, newline-terminated."""
        if lo == 0 and hi == self.count:
            return self.body
        if self.offsets is None:
            self.offsets = _line_offsets(self.body)
        return self.body[self.offsets[lo] : self.offsets[hi]]


def _line_offsets(body: bytes) -> list[int]:
    offsets = [0]
    position = body.find(b"\n")
    while position >= 0:
        offsets.append(position + 1)
        position = body.find(b"\n", position + 1)
    return offsets


def iter_batches(
    events: Iterable[Any],
    *,
    shape: Callable[[Any], Any] | None = None,
    shape_many: Callable[[list[Any]], list[Any]] | None = None,
    as_json: bool = True,
    max_events: int,
    max_bytes: int,
    raw: bool = False,
    text: bool = False,
) -> Iterator[Batch]:
    """Encode events and group them into batches of at most ``max_events`` and about
    ``max_bytes``.

    Each event becomes one line: the JSON of ``shape(event)`` (or of the event; and
    ``shape_many``, when given, shapes a list of events the same way, faster) when
    ``as_json``, else the event as text (:func:`raw_line`). Only an event larger than
    ``max_bytes`` on its own makes a larger batch. An event that cannot be encoded
    becomes an error batch in its place.
    """
    if not as_json:
        yield from _each(events, None, False, max_events, max_bytes, raw, text)
        return
    it = iter(events)
    first = 0
    target = max_events
    while True:
        chunk = list(islice(it, target))
        if not chunk:
            return
        size = 0
        for batch in _json_chunk(chunk, first, shape, shape_many, max_bytes, raw):
            size += len(batch.body)
            yield batch
        first += len(chunk)
        # aim the next chunk at max_bytes from the sizes seen, so that splits stay rare
        per_event = max(1.0, size / len(chunk))
        target = max(1, min(max_events, int(max_bytes * 0.9 / per_event)))


def _json_chunk(
    chunk: list[Any],
    first: int,
    shape: Callable[[Any], Any] | None,
    shape_many: Callable[[list[Any]], list[Any]] | None,
    max_bytes: int,
    raw: bool,
) -> Iterator[Batch]:
    """Encode a chunk of events with one ``orjson.dumps`` of the list, then turn the JSON
    array into lines: the array's ``},{`` separators become newlines when they are the
    only ``},{`` in the text (n objects have exactly n-1 of them; any other, in a string
    or a nested list, makes the count differ), else each event is encoded on its own.
    One call instead of one per event saves a fifth of the client's time."""
    n = len(chunk)
    try:
        if shape_many is not None:
            envelopes = shape_many(chunk)
        else:
            envelopes = [shape(e) for e in chunk] if shape is not None else chunk
        array = orjson.dumps(envelopes, default=json_default, option=JSON_OPTIONS)
    except (TypeError, ValueError, AttributeError):
        yield from _each(chunk, shape, True, n, max_bytes, raw, False, first)
        return
    inner = array[1:-1]
    if n > 1 and (inner.count(b"},{") != n - 1 or inner[:1] != b"{"):
        yield from _each(chunk, shape, True, n, max_bytes, raw, False, first)
        return
    body = inner.replace(b"},{", b"}\n{") + b"\n" if n > 1 else inner + b"\n"
    if len(body) > max_bytes and n > 1:
        # too big: re-encode in equal parts sized to fit (rare once ``target`` adapts)
        parts = min(n, -(-len(body) // int(max_bytes * 0.9)) if max_bytes >= 2 else n)
        start = 0
        for k in range(parts):
            stop = start + n // parts + (1 if k < n % parts else 0)
            part = chunk[start:stop]
            yield from _json_chunk(part, first + start, shape, shape_many, max_bytes, raw)
            start = stop
        return
    yield Batch(first, body, n, raw)


def _each(
    events: Iterable[Any],
    shape: Callable[[Any], Any] | None,
    as_json: bool,
    max_events: int,
    max_bytes: int,
    raw: bool,
    text: bool,
    first: int = 0,
) -> Iterator[Batch]:
    """Encode event by event, into one buffer per batch (keeping many small orjson
    results alive at once is slow and costs far more memory than their length)."""
    buffer = bytearray()
    offsets = [0]
    index = first
    dumps, default, option = orjson.dumps, json_default, JSON_OPTIONS
    for event in events:
        try:
            if as_json:
                line = dumps(shape(event) if shape is not None else event, default, option)
            else:
                line = raw_line(event)
        except (TypeError, ValueError, AttributeError) as exc:
            if len(offsets) > 1:
                yield Batch(
                    index - len(offsets) + 1,
                    bytes(buffer),
                    len(offsets) - 1,
                    raw,
                    None,
                    text,
                    offsets,
                )
                buffer, offsets = bytearray(), [0]
            reason = str(exc) if isinstance(exc, InputError) else f"event cannot be encoded: {exc}"
            yield Batch(index, b"", 1, raw, reason, text)
            index += 1
            continue
        if len(offsets) > 1 and (
            len(offsets) > max_events or len(buffer) + len(line) + 1 > max_bytes
        ):
            yield Batch(
                index - len(offsets) + 1, bytes(buffer), len(offsets) - 1, raw, None, text, offsets
            )
            buffer, offsets = bytearray(), [0]
        buffer += line
        buffer += b"\n"
        offsets.append(len(buffer))
        index += 1
    if len(offsets) > 1:
        yield Batch(
            index - len(offsets) + 1, bytes(buffer), len(offsets) - 1, raw, None, text, offsets
        )


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
