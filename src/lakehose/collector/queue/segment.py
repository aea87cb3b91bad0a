"""Segment files of the disk queue: checksummed records, read back one at a time.

A record is a 20-byte header and its payload::

    magic "LHQ\\x01" | length u32 | seq u64 | crc32 u32 of (length, seq, payload)

all little-endian. The magic lets a reader find the next record after a damaged one:
it scans forward for the magic and takes the first candidate whose header is
plausible and whose checksum holds, so one bad record costs that record only.
A segment is named ``<first>.open`` while written and ``<first>-<last>.seg`` once
sealed (20-digit sequence numbers, so names sort in queue order).
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

MAGIC = b"LHQ\x01"
HEADER = struct.Struct("<4sIQI")
HEADER_SIZE = HEADER.size
MAX_RECORD = 256 * 1024 * 1024
_BODY = struct.Struct("<IQ")
_SCAN_CHUNK = 64 * 1024
_SEALED = re.compile(r"^(\d{20})-(\d{20})\.seg$")
_OPEN = re.compile(r"^(\d{20})\.open$")


def encode(seq: int, payload: bytes) -> bytes:
    """One record: header and payload."""
    body = _BODY.pack(len(payload), seq)
    crc = zlib.crc32(payload, zlib.crc32(body))
    return MAGIC + body + struct.pack("<I", crc) + payload


_HEAD = struct.Struct("<4sIQ")
_CRC = struct.Struct("<I")


def encode_many(first: int, payloads: Sequence[bytes]) -> bytes:
    """Records ``first, first+1, ...`` for ``payloads``, joined: :func:`encode` for each,
    in one pass (the disk queue's hot path)."""
    parts: list[bytes] = []
    add, head, crc_of, crc32 = parts.append, _HEAD.pack, _CRC.pack, zlib.crc32
    seq = first
    for payload in payloads:
        header = head(MAGIC, len(payload), seq)
        add(header)
        add(crc_of(crc32(payload, crc32(memoryview(header)[4:]))))
        add(payload)
        seq += 1
    return b"".join(parts)


def sealed_name(first: int, last: int) -> str:
    return f"{first:020d}-{last:020d}.seg"


def open_name(first: int) -> str:
    return f"{first:020d}.open"


def parse_name(name: str) -> tuple[int, int | None] | None:
    """``(first, last)`` of a sealed segment's name, ``(first, None)`` of an open one."""
    m = _SEALED.match(name)
    if m:
        return int(m.group(1)), int(m.group(2))
    m = _OPEN.match(name)
    if m:
        return int(m.group(1)), None
    return None


@dataclass(slots=True)
class Skip:
    """Bytes ``start .. end`` of a segment held no valid record."""

    start: int
    end: int


class SegmentReader:
    """Reads records in order from ``offset`` up to ``end`` bytes of one segment file,
    skipping damaged bytes (each skip is recorded in ``skips`` for the caller to count).
    Memory stays bounded: the file is read through a buffer, never loaded whole."""

    def __init__(self, path: Path, offset: int = 0, seq_range: tuple[int, int] | None = None):
        self.path = path
        self.file: BinaryIO = open(path, "rb", buffering=256 * 1024)  # noqa: SIM115
        self.offset = offset
        self.seq_range = seq_range
        self.skips: list[Skip] = []
        self.file.seek(offset)

    def close(self) -> None:
        self.file.close()

    def next(self, end: int) -> tuple[int, bytes] | None:
        """The next good record ``(seq, payload)`` before ``end``, or None at ``end``."""
        while self.offset < end:
            found = self._record_at(self.offset, end)
            if found is not None:
                seq, payload = found
                self.offset += HEADER_SIZE + len(payload)
                return seq, payload
            start = self.offset
            self.offset = self._resync(start + 1, end)
            self.skips.append(Skip(start, self.offset))
        return None

    def _record_at(self, offset: int, end: int) -> tuple[int, bytes] | None:
        if end - offset < HEADER_SIZE:
            return None
        self.file.seek(offset)
        header = self.file.read(HEADER_SIZE)
        if len(header) < HEADER_SIZE:
            return None
        magic, length, seq, crc = HEADER.unpack(header)
        if magic != MAGIC or length > MAX_RECORD or offset + HEADER_SIZE + length > end:
            return None
        if self.seq_range is not None and not self.seq_range[0] <= seq <= self.seq_range[1]:
            return None
        payload = self.file.read(length)
        if len(payload) < length or zlib.crc32(payload, zlib.crc32(header[4:16])) != crc:
            return None
        return seq, payload

    def _resync(self, start: int, end: int) -> int:
        """The offset of the next good record at or after ``start``, else ``end``."""
        position = start
        while position < end:
            self.file.seek(position)
            chunk = self.file.read(min(_SCAN_CHUNK, end - position) + len(MAGIC) - 1)
            at = chunk.find(MAGIC)
            while at >= 0:
                if self._record_at(position + at, end) is not None:
                    return position + at
                at = chunk.find(MAGIC, at + 1)
            position += _SCAN_CHUNK
        return end


def scan(path: Path, end: int) -> tuple[int | None, int, int, list[Skip]]:
    """Walk a segment (one found open after a crash): ``(last seq, end of the last good
    record, records, skips)``; bounded memory, one record at a time."""
    reader = SegmentReader(path)
    last: int | None = None
    good_end = 0
    count = 0
    try:
        while (found := reader.next(end)) is not None:
            last = found[0]
            good_end = reader.offset
            count += 1
        return last, good_end, count, reader.skips
    finally:
        reader.close()
