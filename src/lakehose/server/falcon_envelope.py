"""Stored record batches -> Falcon event-stream lines, by splicing bytes (pure functions).

Theory of operation
-------------------
A stored line is ``META<TAB>EVENT`` (``storage/records.py``). Every feed line is::

    {"metadata":{"customerIDString":CID,"offset":N,"eventType":ST,"eventCreationTime":MS,
                 "host":H,"source":S[,"fields":F],"version":"1.0","partition":P,
                 "connector":C,"index":I,"sourcetype":ST},"event":EVENT}\\r\\n

Everything but ``offset``, ``eventCreationTime``, ``host``/``source``/``fields`` and
``EVENT`` is the same for a whole batch (a batch has one connector, index and
sourcetype; ``eventType`` *is* the sourcetype). So a batch is rendered without
decoding any event: the decompressed text is cut into METAs and EVENTs with one
``split``, and the line is assembled from byte slices with one ``join``. The META
that ingest writes starts ``{"time":<19 digits>,`` followed by ``"host":…`` and
``"source":…``; its first 13 digits are the time in milliseconds and the rest of
it (without the closing brace) is spliced into ``metadata`` as is. A batch that
does not have exactly that shape (an old or odd META, a time outside 2001-2286)
takes the general path, which decodes each META; both paths produce the same
objects. ``format=flatjson`` decodes and flattens each event.

An ``event`` is always a JSON object, as Falcon consumers decode it into a struct:
a text event (a JSON string, or any non-object) becomes ``{"@rawstring": text}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import chain, repeat
from operator import itemgetter
from typing import Any

import orjson

from lakehose.models import BatchInfo
from lakehose.parsers.formats import flatten
from lakehose.storage.records import decompress_data

VERSION = "1.0"
LINE_END = b"\r\n"
KEEPALIVE = b"\r\n"

_TIME_PREFIX = b'{"time":'
_MS = itemgetter(slice(8, 21))  # the first 13 of 19 digits: ns -> ms
_DIGITS = itemgetter(slice(8, 27))
_REST = itemgetter(slice(27, -1))  # ',"host":…,"source":…[,"fields":…]' without the brace
_COMMA_AT_27 = itemgetter(27)
_COMMA = ord(",")
_RAW_FLAG = b',"raw":1}\t'
_RAW_KEY = b'"raw":'
_LONG_DIGITS = re.compile(rb"[0-9]{19}")
_META_KEYS_DROPPED = ("time", "raw")


@dataclass(frozen=True, slots=True)
class FeedFormat:
    """How one connection renders events: the tenant id, and flat or nested events."""

    customer_id: str
    flat: bool = False

    @property
    def head(self) -> bytes:
        return b'{"metadata":{"customerIDString":' + orjson.dumps(self.customer_id) + b',"offset":'


def _batch_parts(info: BatchInfo) -> tuple[bytes, bytes]:
    """The constant text of a batch: before ``eventCreationTime``'s value, and the tail."""
    event_type = orjson.dumps(info.sourcetype)
    middle = b',"eventType":' + event_type + b',"eventCreationTime":'
    tail = (
        b',"version":"'
        + VERSION.encode()
        + b'","partition":%d,"connector":%b,"index":%b,"sourcetype":%b},"event":'
        % (
            info.partition,
            orjson.dumps(info.connector),
            orjson.dumps(info.index),
            event_type,
        )
    )
    return middle, tail


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


def render(info: BatchInfo, data: bytes, skip: int, fmt: FeedFormat) -> bytes:
    """Feed lines for the events of a decompressed batch, leaving out the first ``skip``."""
    if _RAW_FLAG in data:
        data = data.replace(_RAW_FLAG, b"}\t")
    parts = data.replace(b"\n", b"\t").split(b"\t")
    if len(parts) != 2 * info.count:
        return _render_general(info, data.split(b"\n")[skip:], skip, fmt)
    metas = parts[0 + 2 * skip :: 2]
    events = parts[1 + 2 * skip :: 2]
    if not metas:
        return b""
    if not _fast_metas(metas):
        return _render_general(info, data.split(b"\n")[skip:], skip, fmt)
    rests = list(map(_REST, metas))
    if _RAW_KEY in data and any(_RAW_KEY in rest for rest in rests):  # "raw" not last
        return _render_general(info, data.split(b"\n")[skip:], skip, fmt)
    if fmt.flat:
        events = [flat_object(e) for e in events]
    elif not all(map(bytes.startswith, events, repeat(b"{"))):
        events = [as_object(e) for e in events]
    first = info.first_offset + skip
    middle, tail = _batch_parts(info)
    pieces: Iterable[bytes] = chain.from_iterable(
        zip(
            repeat(fmt.head),
            map(b"%d".__mod__, range(first, first + len(metas))),
            repeat(middle),
            map(_MS, metas),
            rests,
            repeat(tail),
            events,
            repeat(b"}" + LINE_END),
        )
    )
    return b"".join(pieces)


def _fast_metas(metas: list[bytes]) -> bool:
    """True if every META starts ``{"time":<19 digits>,`` (so the slices above are right)."""
    if not all(map(bytes.startswith, metas, repeat(_TIME_PREFIX))):
        return False
    if min(map(len, metas)) < 29:
        return False
    if set(map(_COMMA_AT_27, metas)) != {_COMMA}:
        return False
    digits = b"".join(map(_DIGITS, metas))
    return digits.isdigit() and b"0" not in b"".join(map(itemgetter(slice(8, 9)), metas))


def _render_general(info: BatchInfo, lines: list[bytes], skip: int, fmt: FeedFormat) -> bytes:
    """The same lines, decoding each META; for batches the fast path cannot take."""
    out = []
    fallback_ms = info.ingest_time // 1_000_000
    for i, line in enumerate(lines):
        meta_json, _, event_json = line.partition(b"\t")
        meta: dict[str, Any] = orjson.loads(meta_json)
        time_ns = meta.get("time")
        metadata: dict[str, Any] = {
            "customerIDString": fmt.customer_id,
            "offset": info.first_offset + skip + i,
            "eventType": info.sourcetype,
            "eventCreationTime": time_ns // 1_000_000 if type(time_ns) is int else fallback_ms,
            "host": meta.get("host"),
            "source": meta.get("source"),
        }
        metadata.update((k, v) for k, v in meta.items() if k not in _META_KEYS_DROPPED)
        metadata.update(
            version=VERSION,
            partition=info.partition,
            connector=info.connector,
            index=info.index,
            sourcetype=info.sourcetype,
        )
        event = flat_object(event_json) if fmt.flat else as_object(event_json)
        out.append(b'{"metadata":' + orjson.dumps(metadata) + b',"event":' + event + b"}")
    return LINE_END.join(out) + LINE_END if out else b""


def render_batch(info: BatchInfo, blob: bytes, from_offset: int, fmt: FeedFormat) -> bytes:
    """Feed lines for the events of a stored batch at offsets >= ``from_offset``."""
    skip = max(0, from_offset - info.first_offset)
    if skip >= info.count:
        return b""
    data = decompress_data(blob, info.partition, info.first_offset, info.count)
    return render(info, data, skip, fmt)
