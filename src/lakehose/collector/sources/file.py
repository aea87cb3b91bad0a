"""The ``file`` source: tails files matched by globs, through rotation, with delivered checkpoints.

Theory of operation.

*Identity.* A file is known by ``device:inode`` plus a fingerprint: a hash of its first
``fp_len`` bytes (up to 1 KiB). Device and inode follow a file through a rename; the
fingerprint tells a reused inode (new content) from the file we knew, and a copy (new inode)
from its original. On restart a checkpoint entry is taken up only when both agree.

*Positions.* ``position`` is how far we read; ``emit_end`` is where the events we put end:
``position`` minus the partial last line (``pending``, carried until its newline comes) and
minus a multi-line event still being assembled. Each put's receipt is queued with its
``emit_end``; the acker awaits receipts in put order and only then moves ``acked`` and the
checkpoint. A restart reads again from ``acked``: the partial line and anything unconfirmed
come back, nothing is skipped.

*Rotation.* Rename / create: we keep the open descriptor, read the old file to its end, and
close it after ``inactivityTimeout`` without new data; the new file at the path is a new
identity, read from 0. Copytruncate: a size below ``position`` (or a changed fingerprint)
means truncation, looked for right before every read (reading may wait for receipts, and
the file can be cut meanwhile); before starting again at 0 we look for the copy next to it (same
fingerprint, another inode) and read it from ``emit_end`` to its end, so lines appended
between our last read and the copy are not lost; without a copy, what we already read is
emitted as it is.

*Scanning.* Globs are walked from their literal prefix (see ``globs``) at most once per
cooldown, which grows with the time a scan takes.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import io
import logging
import os
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from lakehose.collector.checkpoint import CheckpointStore
from lakehose.collector.sources.base import Outlet, truncate
from lakehose.collector.sources.globs import FileMatcher

log = logging.getLogger(__name__)

FP_LEN = 1024
CHUNK = 256 * 1024
CHUNKS_PER_ROUND = 16
POLL = 0.05
SCAN_COOLDOWN = 1.0
MULTILINE_FLUSH = 1.0
SAVE_EVERY_BYTES = 256 * 1024
"""Besides every checkpoint interval, the checkpoint is written once this much more is safe."""
MAX_IN_FLIGHT = 16
"""Batches put but not yet safe: reading pauses beyond this, which bounds memory."""


def fingerprint(f: IO[bytes], length: int) -> str:
    data = os.pread(f.fileno(), length, 0) if length else b""
    return hashlib.sha1(data).hexdigest()


@dataclass
class _Tracked:
    key: str
    path: str
    fields: dict[str, str]
    f: IO[bytes] | None
    gz: bool
    fp: str = ""
    fp_len: int = 0
    position: int = 0
    pending: bytes = b""
    held: list[bytes] = field(default_factory=list)
    acked: int = 0
    gen: int = 0
    size: int = 0
    last_data: float = field(default_factory=time.monotonic)
    seen: bool = True
    inflight: int = 0
    """Batches put and not yet settled: a file is forgotten only at 0."""

    @property
    def held_bytes(self) -> int:
        return sum(len(b) + 1 for b in self.held)

    @property
    def emit_end(self) -> int:
        return self.position - len(self.pending) - self.held_bytes

    def entry(self) -> dict[str, Any]:
        return {"path": self.path, "fp": self.fp, "fp_len": self.fp_len, "offset": self.acked}


class FileSource:
    """Tails every file the source's globs match; see the module docstring."""

    def __init__(
        self, outlet: Outlet, data_dir: Path, *, scan_cooldown: float = SCAN_COOLDOWN
    ) -> None:
        cfg = outlet.config
        self.outlet = outlet
        self.config = cfg
        self.matcher = FileMatcher(cfg.include, cfg.exclude, cfg.exclude_extensions)
        self.store = CheckpointStore(data_dir, cfg.name)
        self.files: dict[str, _Tracked] = {}
        self.scan_cooldown = scan_cooldown
        self._acks: asyncio.Queue[tuple[_Tracked, int, int, asyncio.Future[None]]] = asyncio.Queue()
        self._ack_failed = False
        self._unsaved = 0
        self._progress = asyncio.Event()
        self._stopping = asyncio.Event()
        self._acker: asyncio.Task[None] | None = None
        self.scans = 0
        self._rescan = False

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self) -> None:
        self.store.start()
        self._acker = asyncio.get_running_loop().create_task(self._ack_loop())
        next_scan = 0.0
        first = True
        while not self._stopping.is_set():
            now = time.monotonic()
            if now >= next_scan or self._rescan:
                self._rescan = False
                t0 = time.perf_counter()
                await self._scan(first)
                first = False
                self.scans += 1
                next_scan = now + max(self.scan_cooldown, 20 * (time.perf_counter() - t0))
            got = False
            for t in list(self.files.values()):
                if self._stopping.is_set():
                    break
                if t.f is not None:
                    got = await self._read(t) or got
            await self._housekeep(time.monotonic())
            self._gauges()
            if not got:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), POLL)

    def stop(self) -> None:
        self._stopping.set()
        self._progress.set()

    async def aclose(self) -> None:
        """After the delivery closed: settle the receipts we hold, write the checkpoint."""
        if self._acker is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._acks.join(), 10)
            self._acker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._acker
        for t in self.files.values():
            if t.f is not None:
                t.f.close()
        await self.store.aclose()

    # -- acknowledgements ------------------------------------------------------------------

    async def _ack_loop(self) -> None:
        while True:
            t, gen, end, receipt = await self._acks.get()
            t.inflight -= 1
            try:
                await receipt
                if self._ack_failed or gen != t.gen or self.files.get(t.key) is not t:
                    continue
                if end > t.acked:
                    self._unsaved += end - t.acked
                    t.acked = end
                    self.store.set(t.key, t.entry())
                    if self._unsaved >= SAVE_EVERY_BYTES:  # bound what a crash re-reads
                        self._unsaved = 0
                        self.store.flush_soon()
            except Exception as exc:  # the delivery is closing: nothing later is safe either
                if not self._ack_failed:
                    log.info(
                        "source %s: a receipt failed (%s); positions kept", self.config.name, exc
                    )
                self._ack_failed = True
            finally:
                self._acks.task_done()
                self._progress.set()

    async def _put(
        self, t: _Tracked, texts: list[str], end: int, source: str | None = None
    ) -> None:
        receipt = await self.outlet.send(texts, t.fields, source=source or t.path)
        t.inflight += 1
        self._acks.put_nowait((t, t.gen, end, receipt))

    # -- discovery ---------------------------------------------------------------------------

    async def _scan(self, first: bool) -> None:
        for known in self.files.values():
            known.seen = False
        for path in await asyncio.to_thread(self.matcher.scan):  # a big tree: off the loop
            try:
                st = os.stat(path)
            except OSError:
                continue
            key = f"{st.st_dev}:{st.st_ino}"
            t = self.files.get(key)
            if t is not None:
                t.seen = True
                t.path = path
                if t.f is None and st.st_size != t.size:
                    await self._reopen(t, path)
                elif t.f is not None and not t.gz and t.fp_len:
                    if fingerprint(t.f, t.fp_len) != t.fp:
                        await self._truncated(t)
                continue
            await self._open(path, key, st.st_size, first)
        if first:
            await self._recover_moved()

    async def _recover_moved(self) -> None:
        """Checkpointed files no glob matches any more were rotated while we were down:
        find each by its inode next to where it was, read its rest, then let it go."""
        for key, entry in list(self.store.entries.items()):
            if key in self.files or not isinstance(entry, dict):
                continue
            found = None
            folder = os.path.dirname(str(entry.get("path", "")))
            with contextlib.suppress(OSError):
                for e in os.scandir(folder):
                    if f"{os.stat(e.path).st_dev}:{e.inode()}" == key and e.is_file():
                        found = e.path
                        break
            size = os.stat(found).st_size if found is not None else 0
            probe = _Tracked(key, str(found), {}, None, False, size=size)
            if (
                found is None
                or self.matcher.excluded(found)
                or not self._matches(probe, entry, found)
            ):
                self.store.delete(key)  # gone, or its inode now holds another file
                continue
            await self._open(found, key, size, first=False)
            t = self.files.get(key)
            if t is not None:
                t.seen = False  # read to its end, then closed and forgotten

    def _open_file(self, path: str) -> tuple[IO[bytes], bool] | None:
        try:
            f: IO[bytes] = open(path, "rb")  # noqa: SIM115 - kept open while tailing
        except OSError as exc:
            log.warning("source %s: cannot open %s: %s", self.config.name, path, exc)
            self.outlet.stats.errors += 1
            return None
        if not path.endswith(".gz"):
            return f, False
        try:
            raw = gzip.decompress(f.read())
        except (OSError, EOFError, zlib.error) as exc:
            log.error("source %s: %s is not readable gzip: %s", self.config.name, path, exc)
            self.outlet.stats.errors += 1
            raw = b""
        finally:
            f.close()
        return io.BytesIO(raw), True

    async def _open(self, path: str, key: str, size: int, first: bool) -> None:
        opened = self._open_file(path)
        if opened is None:
            return
        f, gz = opened
        t = _Tracked(key, path, self.outlet.fields({"@collect.file": path}), f, gz, size=size)
        if gz:
            with open(path, "rb") as raw:
                t.fp_len = min(size, FP_LEN)
                t.fp = fingerprint(raw, t.fp_len)
        else:
            t.fp_len = min(size, FP_LEN)
            t.fp = fingerprint(f, t.fp_len)
        entry = self.store.get(key)
        if entry and self._matches(t, entry, path):
            offset = int(entry["offset"])
            end = len(f.getvalue()) if isinstance(f, io.BytesIO) else size
            t.position = t.acked = offset if offset <= end else 0
            if t.fp_len < int(entry["fp_len"]):
                t.fp, t.fp_len = entry["fp"], int(entry["fp_len"])
        elif first and self.config.start_at == "end" and not gz:
            t.position = t.acked = size
        f.seek(t.position)
        self.files[key] = t
        self.store.set(key, t.entry())
        log.info("source %s: reading %s from %d", self.config.name, path, t.position)

    def _matches(self, t: _Tracked, entry: dict[str, Any], path: str) -> bool:
        """The checkpointed file is this one: same inode and the same first bytes."""
        n = int(entry.get("fp_len", 0))
        if n > t.size and not t.gz:
            return False
        with open(path, "rb") as f:
            return fingerprint(f, n) == entry.get("fp")

    async def _reopen(self, t: _Tracked, path: str) -> None:
        opened = self._open_file(path)
        if opened is None:
            return
        f, gz = opened
        t.f = f
        if not gz and t.fp_len and fingerprint(f, t.fp_len) != t.fp:
            # The inode came back with other content: a new file, from its start.
            t.gen += 1
            t.position = t.acked = 0
            t.pending, t.held = b"", []
            t.fp_len = min(os.fstat(f.fileno()).st_size, FP_LEN)
            t.fp = fingerprint(f, t.fp_len)
        f.seek(t.position)
        t.last_data = time.monotonic()

    # -- reading -------------------------------------------------------------------------------

    async def _read(self, t: _Tracked) -> bool:
        assert t.f is not None
        if not t.gz:
            st = os.fstat(t.f.fileno())
            t.size = st.st_size
            if st.st_size == t.position:
                if self._replaced(t):
                    self._rescan = True
                return False
        got = False
        for _ in range(CHUNKS_PER_ROUND):
            while self._acks.qsize() >= MAX_IN_FLIGHT and not self._stopping.is_set():
                self._progress.clear()
                await self._progress.wait()
            if t.f is None:
                break
            # Looked at right before each read, with no wait in between: a copytruncate
            # while we waited (above, or in a put) would have us read the new content from
            # the old position, that is from the middle of a line.
            if not t.gz and self._cut_under(t):
                await self._truncated(t)  # catch up from the copy, then read from 0
            data = t.f.read(CHUNK)
            if not data:
                if t.gz and t.pending:
                    await self._emit_rest(t)
                break
            got = True
            t.position += len(data)
            if t.fp_len < FP_LEN and not t.gz:  # the identity firms up as the file grows
                t.fp_len = min(FP_LEN, t.position)
                t.fp = fingerprint(t.f, t.fp_len)
            t.last_data = time.monotonic()
            await self._lines(t, data)
            if len(data) < CHUNK:
                break
        return got

    @staticmethod
    def _cut_under(t: _Tracked) -> bool:
        """A copytruncate under our position: the file shrank below it, or its first bytes
        changed (truncated, then written past our position before we looked)."""
        assert t.f is not None
        if os.fstat(t.f.fileno()).st_size < t.position:
            return True
        return bool(t.fp_len) and fingerprint(t.f, t.fp_len) != t.fp

    def _replaced(self, t: _Tracked) -> bool:
        """Another, unknown file is now at this file's path: it was rotated; look at once."""
        try:
            st = os.stat(t.path)
        except OSError:
            return False
        return f"{st.st_dev}:{st.st_ino}" not in self.files

    async def _lines(self, t: _Tracked, data: bytes) -> None:
        buf = t.pending + data if t.pending else data
        cut = buf.rfind(b"\n")
        if cut < 0:
            t.pending = buf
            if len(buf) >= self.config.max_event_size:  # a line longer than an event may be
                await self._emit_rest(t)
            return
        t.pending = buf[cut + 1 :]
        body = buf[:cut]
        if self.config.multi_line_begins_with is not None:
            await self._multiline(t, body.split(b"\n"))
            return
        texts = body.decode("utf-8", "replace").split("\n")
        if b"\r" in body:
            texts = [s.removesuffix("\r") for s in texts]
        if len(body) > self.config.max_event_size:
            limit = self.config.max_event_size
            texts = [truncate(s, limit) for s in texts]
        await self._put(t, texts, t.emit_end)

    async def _multiline(self, t: _Tracked, lines: list[bytes]) -> None:
        pattern = self.config.multi_line_begins_with
        assert pattern is not None
        events: list[str] = []
        for line in lines:
            text = line.decode("utf-8", "replace").removesuffix("\r")
            if pattern.match(text) and t.held:
                events.append(self._joined(t.held))
                t.held = []
            t.held.append(line)
        if events:
            await self._put(t, events, t.emit_end)

    def _joined(self, held: list[bytes]) -> str:
        text = b"\n".join(held).decode("utf-8", "replace").replace("\r\n", "\n")
        return truncate(text, self.config.max_event_size)

    async def _emit_rest(self, t: _Tracked) -> None:
        """Emit what is held and pending as events (the file will not complete them)."""
        texts = [self._joined(t.held)] if t.held else []
        if t.pending:
            texts.append(truncate(t.pending.decode("utf-8", "replace"), self.config.max_event_size))
        t.held, t.pending = [], b""
        if texts:
            await self._put(t, texts, t.emit_end)

    async def _truncated(self, t: _Tracked) -> None:
        assert t.f is not None
        copy = self._find_copy(t)
        if copy is not None:
            log.info(
                "source %s: %s truncated; reading the rest from its copy %s",
                self.config.name,
                t.path,
                copy,
            )
            t.held, t.pending = [], b""
            await self._catch_up(t, copy, t.position)
        else:
            log.info("source %s: %s truncated; reading it again from 0", self.config.name, t.path)
            await self._emit_rest(t)
        t.gen += 1
        t.position = t.acked = 0
        t.fp_len = min(os.fstat(t.f.fileno()).st_size, FP_LEN)
        t.fp = fingerprint(t.f, t.fp_len)
        t.f.seek(0)
        self.store.set(t.key, t.entry())

    def _find_copy(self, t: _Tracked) -> str | None:
        folder, name = os.path.split(t.path)
        try:
            candidates = [
                e for e in os.scandir(folder) if e.name.startswith(name) and e.name != name
            ]
        except OSError:
            return None
        for e in sorted(candidates, key=lambda e: e.name):
            if e.name.endswith(".gz") or not e.is_file():
                continue
            try:
                with open(e.path, "rb") as f:
                    st = os.fstat(f.fileno())
                    if f"{st.st_dev}:{st.st_ino}" == t.key or st.st_size < t.emit_end:
                        continue
                    if t.fp_len and fingerprint(f, t.fp_len) == t.fp:
                        return e.path
            except OSError:
                continue
        return None

    async def _catch_up(self, t: _Tracked, copy: str, _: int) -> None:
        start = t.emit_end if t.emit_end >= 0 else 0
        with open(copy, "rb") as f:
            f.seek(start)
            rest = f.read()
        if not rest:
            return
        texts = rest.decode("utf-8", "replace").split("\n")
        if texts and texts[-1] == "":
            texts.pop()
        limit = self.config.max_event_size
        texts = [truncate(s.removesuffix("\r"), limit) for s in texts]
        for i in range(0, len(texts), 5000):
            await self._put(t, texts[i : i + 5000], -1, source=copy)

    # -- housekeeping ------------------------------------------------------------------------

    async def _housekeep(self, now: float) -> None:
        timeout = self.config.inactivity_timeout
        for key, t in list(self.files.items()):
            idle = now - t.last_data
            if t.held and idle >= MULTILINE_FLUSH and t.f is not None:
                texts = [self._joined(t.held)]
                t.held = []
                await self._put(t, texts, t.emit_end)
            if t.f is None or idle < timeout:
                continue
            gone = not t.seen or os.fstat(t.f.fileno()).st_nlink == 0
            if gone and t.pending:
                await self._emit_rest(t)
            if gone and t.inflight:
                continue  # its checkpoint goes only once all it sent is safe
            t.f.close()
            t.f = None
            if gone:
                del self.files[key]
                self.store.delete(key)
                log.info("source %s: done with %s", self.config.name, t.path)

    def _gauges(self) -> None:
        lag = 0
        for t in self.files.values():
            if t.size > t.acked and not t.gz:
                lag += t.size - t.acked
        g = self.outlet.stats.gauges
        g["lag_bytes"] = lag
        g["files"] = len(self.files)
        g["files_open"] = sum(1 for t in self.files.values() if t.f is not None)
