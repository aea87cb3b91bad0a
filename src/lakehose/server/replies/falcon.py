"""Stored record batches -> Falcon event-stream lines, by splicing bytes (pure functions).

Theory of operation
-------------------
A stored line is ``META<TAB>EVENT`` (``records.py``). Every feed line is::

    {"metadata":{"customerIDString":CID,"offset":N,"eventType":ST,"version":"1.0",
                 "partition":P,"connector":C,"index":I,"sourcetype":ST,
                 "eventCreationTime":MS,"host":H,"source":S[,"fields":F]},"event":EVENT}\r\n

Only ``offset``, ``eventCreationTime``, the META keys and ``EVENT`` vary within a
batch (a batch has one connector, index and sourcetype; ``eventType`` *is* the
sourcetype), so a batch is rendered without decoding any event, with a handful of
C-level passes and, in the common case, no Python code per event:

* one ``replace`` and one ``split`` cut the decompressed text into METAs and EVENTs;
* ingest writes META as ``{"time":<ns>,"host":…,"source":…[,"fields":…]}``. When the
  batch's time range (``BatchInfo.min_time``/``max_time``) puts every time between
  10^18 and 10^19 ns (2001-2286), each time has exactly 19 digits, so ``META[8:21]``
  is the time in milliseconds and ``META[27:]`` is the rest of META *with* its
  closing brace, which also closes ``metadata``;
* offsets are consecutive, so their digits come from a precomputed table
  (``"1234" + "567"``) instead of being formatted one by one;
* the pieces are laid out with strided list assignments and joined once.

Checks that cost a pass each (every META starts with ``{"time":``, the 13 digits are
digits, every EVENT starts with ``{``) guard the layout; a batch that fails them
takes the general path, which decodes each META and gives the same objects.
``format=flatjson`` decodes and flattens each event.

An ``event`` is always a JSON object, as Falcon consumers decode it into a struct:
a text event (a JSON string, or any non-object) becomes ``{"@rawstring": text}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter
from typing import Any

import orjson

from lakehose import records
from lakehose.models import BatchInfo
from lakehose.parsers.formats import flatten

VERSION = "1.0"
LINE_END = b"\r\n"
KEEPALIVE = b"\r\n"

_TIME_PREFIX = records.META_HEAD
_PREFIX = itemgetter(slice(0, len(records.META_HEAD)))
_MS = itemgetter(records.META_MILLIS)  # the first 13 of 19 digits: ns -> ms
_REST = itemgetter(records.META_REST)  # ',"host":…,"source":…[,"fields":…]}'
_FIRST = itemgetter(slice(0, 1))
_MIN_NS, _MAX_NS = records.FIXED_WIDTH_NS
_RAW_KEY = records.RAW_KEY
_RAW_TAIL = records.RAW_TAIL
_EVENT_KEY = b',"event":'
_LONG_DIGITS = re.compile(rb"[0-9]{19}")
_META_KEYS_DROPPED = ("time", "raw")

WINDOW_BYTES = 128 * 1024  # stored bytes rendered at a time (the pieces then fit in L2)
_BLOCK = 1000  # offsets are written as str(offset // 1000) + the last three digits
_PADDED = [b"%03d" % i for i in range(_BLOCK)]
_PLAIN = [b"%d" % i for i in range(_BLOCK)]


@dataclass(frozen=True, slots=True)
class FeedFormat:
    """How one connection renders events: the tenant id, and flat or nested events."""

    customer_id: str
    flat: bool = False

    @property
    def head(self) -> bytes:
        return b'{"metadata":{"customerIDString":' + orjson.dumps(self.customer_id) + b',"offset":'


def _batch_constants(info: BatchInfo) -> bytes:
    """The metadata every event of a batch shares, up to ``eventCreationTime``'s value."""
    event_type = orjson.dumps(info.sourcetype)
    return (
        b',"eventType":%b,"version":"%b","partition":%d,"connector":%b,"index":%b,'
        % (
            event_type,
            VERSION.encode(),
            info.partition,
            orjson.dumps(info.connector),
            orjson.dumps(info.index),
        )
        + b'"sourcetype":%b,"eventCreationTime":' % event_type
    )


def _offset_runs(first: int, count: int) -> tuple[list[tuple[int, bytes]], list[bytes]]:
    """Offsets ``first..first+count-1`` as runs of ``(length, leading digits)`` + last digits."""
    runs: list[tuple[int, bytes]] = []
    last: list[bytes] = []
    offset, end = first, first + count
    while offset < end:
        high, low = divmod(offset, _BLOCK)
        stop = min(end, (high + 1) * _BLOCK)
        runs.append((stop - offset, b"%d" % high if high else b""))
        last += (_PADDED if high else _PLAIN)[low : low + stop - offset]
        offset = stop
    return runs, last


def as_object(event_json: bytes) -> bytes:
    """An event's JSON text as an object: text events become ``{"@rawstring": text}``."""
    stripped = event_json.lstrip()
    if stripped[:1] == b"{":
        return event_json
    if stripped[:1] == b'"':
        return b'{"@rawstring":' + stripped + b"}"
    return b'{"@rawstring":' + orjson.dumps(stripped.decode("utf-8", "replace")) + b"}"


def flat_object(event_json: bytes) -> bytes:
    """``format=flatjson``: nested objects as dotted names (``a.b``, ``a[0].b``)."""
    if _LONG_DIGITS.search(event_json):  # orjson would turn integers beyond 64 bits into floats
        value = json.loads(event_json)
        if type(value) is dict:
            return json.dumps(flatten(value), ensure_ascii=False, separators=(",", ":")).encode()
    else:
        value = orjson.loads(event_json)
        if type(value) is dict:
            return orjson.dumps(flatten(value))
    return as_object(event_json)


def render(info: BatchInfo, data: bytes, skip: int, fmt: FeedFormat) -> list[bytes]:
    """Feed lines for the events of a decompressed batch, leaving out the first ``skip``.

    The lines come in chunks of a few hundred kB, rendered window by window so that
    each window's pieces stay in the CPU cache.
    """
    if skip >= info.count:
        return []
    parts = data.replace(b"\n", b"\t").split(b"\t")
    if len(parts) != 2 * info.count or not _MIN_NS <= info.min_time <= info.max_time < _MAX_NS:
        return [_render_general(info, data, skip, fmt)]
    step = max(64, WINDOW_BYTES * info.count // max(1, len(data)))
    chunks = []
    for start in range(skip, info.count, step):
        end = min(info.count, start + step)
        chunk = _render_window(
            info, parts[2 * start : 2 * end : 2], parts[2 * start + 1 : 2 * end : 2], start, fmt
        )
        if chunk is None:
            return [_render_general(info, data, skip, fmt)]
        chunks.append(chunk)
    return chunks


def _render_window(
    info: BatchInfo, metas: list[bytes], events: list[bytes], skip: int, fmt: FeedFormat
) -> bytes | None:
    """Feed lines for some consecutive events of a batch; None if their layout is not the usual."""
    n = len(metas)
    millis = list(map(_MS, metas))
    if b"".join(map(_PREFIX, metas)) != _TIME_PREFIX * n or not b"".join(millis).isdigit():
        return None
    rests = list(map(_REST, metas))
    if _RAW_KEY in b"".join(rests):
        rests = [r[: -len(_RAW_TAIL)] + b"}" if r.endswith(_RAW_TAIL) else r for r in rests]
        if _RAW_KEY in b"".join(rests):  # "raw" elsewhere: leave it to the general path
            return None
    if fmt.flat:
        events = [flat_object(e) for e in events]
    elif b"".join(map(_FIRST, events)) != b"{" * n:
        events = [as_object(e) for e in events]
    # per event: head + leading offset digits | last digits | constants | ms | rest | ,"event": | event
    pieces = [_batch_constants(info)] * (7 * n + 1)
    head = b"}" + LINE_END + fmt.head
    runs, last_digits = _offset_runs(info.first_offset + skip, n)
    at = 0
    for length, leading in runs:
        pieces[7 * at : 7 * (at + length) : 7] = repeat(head + leading, length)
        at += length
    pieces[0] = pieces[0][1 + len(LINE_END) :]
    pieces[1::7] = last_digits
    pieces[3::7] = millis
    pieces[4::7] = rests
    pieces[5::7] = repeat(_EVENT_KEY, n)
    pieces[6::7] = events
    pieces[-1] = b"}" + LINE_END
    return b"".join(pieces)


def _render_general(info: BatchInfo, data: bytes, skip: int, fmt: FeedFormat) -> bytes:
    """The same lines, decoding each META; for batches the fast path cannot take."""
    lines = records.check_lines(data.split(b"\n"), info.partition, info.first_offset, info.count)
    return render_lines(info, enumerate(lines[skip:], skip), fmt)


def render_lines(info: BatchInfo, lines: Iterable[tuple[int, bytes]], fmt: FeedFormat) -> bytes:
    """Feed lines for some stored lines of a batch, each with its position in the batch
    (a filtered feed sends only the events that match, at their own offsets)."""
    out = []
    fallback_ms = info.ingest_time // 1_000_000
    for i, line in lines:
        meta, event_json = records.split_line(line)
        time_ns = meta.get("time")
        metadata: dict[str, Any] = {
            "customerIDString": fmt.customer_id,
            "offset": info.first_offset + i,
            "eventType": info.sourcetype,
            "version": VERSION,
            "partition": info.partition,
            "connector": info.connector,
            "index": info.index,
            "sourcetype": info.sourcetype,
            "eventCreationTime": time_ns // 1_000_000 if type(time_ns) is int else fallback_ms,
        }
        metadata.update((k, v) for k, v in meta.items() if k not in _META_KEYS_DROPPED)
        event = flat_object(event_json) if fmt.flat else as_object(event_json)
        out.append(b'{"metadata":' + orjson.dumps(metadata) + _EVENT_KEY + event + b"}")
    return LINE_END.join(out) + LINE_END if out else b""


def render_batch(info: BatchInfo, blob: bytes, from_offset: int, fmt: FeedFormat) -> list[bytes]:
    """Feed lines for the events of a stored batch at offsets >= ``from_offset``, in chunks."""
    skip = max(0, from_offset - info.first_offset)
    if skip >= info.count:
        return []
    return render(info, records.decompress_data(blob, info.partition, info.first_offset), skip, fmt)
