"""The stored record format, owned here alone: zstd-compressed lines of ``META<TAB>EVENT``.

It sits on the lowest floor (beside ``models`` and ``errors``): ingest (``parsers/hec.py``)
writes it, the log stores it opaquely, and search and the data feed read it.

Each event is one line. ``META`` is a compact JSON object with the event's own
metadata; ``EVENT`` is the event as sent, as JSON text (a string event is a JSON
string). Neither part can hold a raw newline, and ``META`` holds no raw tab, so a
line splits at its first tab. Keeping the event's JSON text apart lets the stream
API splice it into the Falcon envelope without decoding it, and lets search test
the raw bytes of a line before parsing it.

META keys (absent when empty):
    ``time``    event time, ns since the epoch
    ``host``, ``source``  HEC metadata
    ``fields``  indexed fields, flat (dotted names)
    ``raw``     1 when EVENT is the original text of a raw line that was valid JSON,
                so ``@rawstring`` is EVENT itself

Ingest writes META with a fixed head, ``{"time":<ns>,"host":…,"source":…[,"fields":…]}``
(:data:`LINE_TEMPLATE`), and the data feed reads it by position (:data:`META_MILLIS`,
:data:`META_REST`) when every time has 19 digits (:data:`FIXED_WIDTH_NS`); readers that
see anything else fall back to :func:`split_line`.

The zstd frame carries a content checksum, so a torn or corrupted blob is caught
on read instead of being served.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import orjson
import zstandard

from lakehose.errors import CorruptBatchError

_local = threading.local()

SEPARATOR = b"\t"  # between META and EVENT; lines are joined with b"\n"

# What ingest writes: time (ns), host and source (JSON strings or null), then
# ``,"fields":{...}`` or ``,"raw":1`` or nothing, then the closing brace; TAB; EVENT.
LINE_TEMPLATE = b'{"time":%d,"host":%b,"source":%b%b}\t%b'
META_HEAD = b'{"time":'  # every META ingest writes starts so
# With a time of exactly 19 digits (FIXED_WIDTH_NS), META[8:21] is the time in
# milliseconds and META[27:] the rest of META from ``,"host":`` with its closing brace.
FIXED_WIDTH_NS = (10**18, 10**19)
META_MILLIS = slice(len(META_HEAD), len(META_HEAD) + 13)
META_REST = slice(len(META_HEAD) + 19, None)
RAW_KEY = b'"raw":'
RAW_TAIL = b',"raw":1}'


def _compressor(level: int) -> zstandard.ZstdCompressor:
    key = f"zc{level}"
    c = getattr(_local, key, None)
    if c is None:
        c = zstandard.ZstdCompressor(level=level, write_checksum=True, write_content_size=True)
        setattr(_local, key, c)
    return c


def _decompressor() -> zstandard.ZstdDecompressor:
    d = getattr(_local, "zd", None)
    if d is None:
        d = zstandard.ZstdDecompressor()
        _local.zd = d
    return d


def encode_line(meta: dict[str, Any], event_json: bytes) -> bytes:
    """One record line (without its newline)."""
    return orjson.dumps(meta) + SEPARATOR + event_json


def compress_lines(lines: list[bytes], level: int = 1) -> bytes:
    return _compressor(level).compress(b"\n".join(lines))


def decompress_data(blob: bytes, partition: int, first_offset: int) -> bytes:
    """The newline-separated lines of a stored batch, as one bytes object (lines not counted).

    Raises :class:`CorruptBatchError` if the blob fails its checksum.
    """
    try:
        data: bytes = _decompressor().decompress(blob)
    except zstandard.ZstdError as exc:
        raise CorruptBatchError(partition, first_offset, str(exc)) from exc
    return data


ZstdError = zstandard.ZstdError


def decompressor() -> Callable[[bytes], bytes]:
    """This thread's zstd decompression, for a loop over many blobs: it raises
    :data:`ZstdError` where :func:`decompress_data` raises :class:`CorruptBatchError`."""
    found: Callable[[bytes], bytes] = _decompressor().decompress
    return found


def check_lines(lines: list[bytes], partition: int, first_offset: int, count: int) -> list[bytes]:
    """``lines``, if there are ``count`` of them; else :class:`CorruptBatchError`."""
    if len(lines) != count:
        raise CorruptBatchError(partition, first_offset, f"{len(lines)} lines, expected {count}")
    return lines


def decompress_lines(blob: bytes, partition: int, first_offset: int, count: int) -> list[bytes]:
    """The lines of a stored batch; raises :class:`CorruptBatchError` if it fails checks."""
    data = decompress_data(blob, partition, first_offset)
    return check_lines(data.split(b"\n"), partition, first_offset, count)


def split_line(line: bytes) -> tuple[dict[str, Any], bytes]:
    """``(meta, event_json)`` of one record line."""
    meta, _, event_json = line.partition(SEPARATOR)
    return orjson.loads(meta), event_json
