"""The disk queue's cursor: the number through which the sink committed, kept in one small file.

The file holds 20 digits and their CRC32 (30 bytes), overwritten in place with one
``pwrite`` per commit: a rename per commit made ext4 flush, and a torn or lost cursor
only makes the queue send some records again, it never loses one.
"""

from __future__ import annotations

import logging
import os
import zlib
from pathlib import Path

log = logging.getLogger(__name__)

CURSOR = "cursor"


def format_cursor(seq: int) -> bytes:
    text = f"{seq:020d}"
    return f"{text} {zlib.crc32(text.encode()):08x}\n".encode()


def parse_cursor(data: bytes) -> int | None:
    """The number in a cursor file, or None when it does not check out."""
    try:
        text, crc = data.decode("ascii").split()
        if int(crc, 16) != zlib.crc32(text.encode()) or len(text) != 20:
            return None
        return int(text)
    except (UnicodeDecodeError, ValueError):
        return None


class Cursor:
    """``<directory>/cursor`` of the disk queue ``name``."""

    def __init__(self, directory: Path, name: str) -> None:
        self.path = directory / CURSOR
        self.name = name
        self._fd: int | None = None

    def read(self) -> int:
        """The saved number; 0 (send everything again) when missing or unreadable."""
        try:
            text = self.path.read_bytes()
        except FileNotFoundError:
            return 0
        except OSError as exc:
            text = str(exc).encode()
        seq = parse_cursor(text)
        if seq is None:
            log.warning(
                "disk queue %s: cursor %s unreadable; sending again from the oldest segment",
                self.name,
                self.path,
            )
            return 0
        return seq

    def write(self, seq: int) -> None:
        """Overwrite the cursor in place; a failure (a full disk) is logged: the cursor
        lags and records are sent again."""
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600)
            os.pwrite(self._fd, format_cursor(seq), 0)
        except OSError as exc:
            log.warning("disk queue %s: cannot save the cursor: %s", self.name, exc)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
