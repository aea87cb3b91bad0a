"""Where a stream consumer keeps its offsets between runs: a ``Checkpoint``, by default a JSON file.

A checkpoint maps each partition to the offset of the last event the consumer has
processed; the consumer resumes at that offset + 1 (the data feed's ``offset=N`` is
inclusive), so a restart neither skips nor repeats a committed event.

:class:`FileCheckpoint` writes ``{"version": 1, "offsets": {"0": 41}, "updated": …}``
atomically: a temporary file in the same directory, flushed and fsynced, renamed
over the old one, then the directory fsynced. A crash leaves the old file or the new
one, never a mix.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol, runtime_checkable

import orjson

from lakehose.errors import ConfigError

VERSION = 1


@runtime_checkable
class Checkpoint(Protocol):
    """Loads and saves ``{partition: offset of the last processed event}``."""

    def load(self) -> dict[int, int]:
        """The saved offsets (empty when nothing was saved yet)."""
        ...

    def save(self, offsets: Mapping[int, int]) -> None:
        """Replace the saved offsets with ``offsets`` (every partition known so far)."""
        ...


class MemoryCheckpoint:
    """Offsets kept in this process only (a consumer without a file)."""

    def __init__(self, offsets: Mapping[int, int] | None = None) -> None:
        self.offsets = dict(offsets or {})
        self.saves = 0

    def load(self) -> dict[int, int]:
        return dict(self.offsets)

    def save(self, offsets: Mapping[int, int]) -> None:
        self.offsets = dict(offsets)
        self.saves += 1


class FileCheckpoint:
    """Offsets in a JSON file, replaced atomically on every save."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"FileCheckpoint({str(self.path)!r})"

    def load(self) -> dict[int, int]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise ConfigError(f"checkpoint {self.path} cannot be read: {exc}") from exc
        if not raw.strip():
            return {}
        try:
            body = orjson.loads(raw)
            offsets = body["offsets"]
            return {int(p): _offset(v) for p, v in offsets.items()}
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            raise ConfigError(
                f"checkpoint {self.path} is not a lakehose checkpoint "
                '(expected {"version": 1, "offsets": {"<partition>": <offset>}})'
            ) from None

    def save(self, offsets: Mapping[int, int]) -> None:
        body = {
            "version": VERSION,
            "offsets": {str(p): offsets[p] for p in sorted(offsets)},
            "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        data = orjson.dumps(body, option=orjson.OPT_INDENT_2) + b"\n"
        directory = self.path.parent
        try:
            fd, temp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=directory)
        except OSError as exc:
            raise ConfigError(f"checkpoint {self.path} cannot be written: {exc}") from exc
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temp, self.path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        _fsync_dir(directory)


def _offset(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(value)
    return value


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def as_checkpoint(value: Checkpoint | str | os.PathLike[str] | None) -> Checkpoint:
    """A checkpoint from a path (a :class:`FileCheckpoint`), an object, or None (memory)."""
    if value is None:
        return MemoryCheckpoint()
    if isinstance(value, str | os.PathLike):
        return FileCheckpoint(value)
    if not isinstance(value, Checkpoint):
        raise ConfigError("checkpoint must be a path or have load() and save(offsets)")
    return value
