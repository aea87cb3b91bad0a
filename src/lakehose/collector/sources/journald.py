"""The ``journald`` source: ``journalctl -o json --follow``, resumed from a delivered cursor.

The cursor of the last entry whose receipt resolved is the checkpoint; a restart passes it as
``--after-cursor``, so entries are read again only if they were not yet safe. A first start
with no cursor begins with new entries. ``includeUnits`` become ``-u`` filters; entries of
``excludeUnits`` are dropped here. ``directory`` reads a journal folder (``-D``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from pathlib import Path
from typing import Any

import orjson

from lakehose.collector.checkpoint import CheckpointStore
from lakehose.collector.sources.base import Outlet, truncate

log = logging.getLogger(__name__)
_KEEP = {
    "_SYSTEMD_UNIT": "unit",
    "PRIORITY": "priority",
    "SYSLOG_IDENTIFIER": "identifier",
    "_PID": "pid",
}


def message_text(value: Any) -> str:
    """``MESSAGE`` as text: journalctl writes non-UTF-8 messages as a list of byte values."""
    if isinstance(value, list):
        return bytes(v for v in value if isinstance(v, int) and 0 <= v < 256).decode(
            "utf-8", "replace"
        )
    return "" if value is None else str(value)


class JournaldSource:
    """Follows the journal through ``journalctl``; see the module docstring."""

    def __init__(self, outlet: Outlet, data_dir: Path, journalctl: str = "journalctl") -> None:
        self.outlet = outlet
        self.config = outlet.config
        self.journalctl = journalctl
        self.store = CheckpointStore(data_dir, self.config.name)
        self._stopping = asyncio.Event()
        self._proc: asyncio.subprocess.Process | None = None
        self._acks: deque[tuple[str, asyncio.Future[None]]] = deque()
        self._ack_task: asyncio.Task[None] | None = None
        self._ack_ready = asyncio.Event()

    def argv(self) -> list[str]:
        cfg = self.config
        argv = [self.journalctl, "-o", "json", "--follow", "--no-pager"]
        if cfg.directory is not None:
            argv += ["-D", str(cfg.directory)]
        for unit in cfg.include_units:
            argv += ["-u", unit]
        cursor = self.store.get("cursor")
        argv += [f"--after-cursor={cursor}"] if cursor else ["-n", "0"]
        return argv

    async def run(self) -> None:
        self.store.start()
        self._ack_task = asyncio.get_running_loop().create_task(self._ack_loop())
        while not self._stopping.is_set():
            await self._follow()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), 5)

    async def _follow(self) -> None:
        cfg = self.config
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.argv(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            log.error("source %s: cannot run journalctl: %s", cfg.name, exc)
            self.outlet.stats.errors += 1
            return
        self._proc = proc
        assert proc.stdout is not None
        excluded = set(cfg.exclude_units)
        pending = b""
        while True:
            data = await proc.stdout.read(1 << 20)
            if not data:
                break
            buf = pending + data
            cut = buf.rfind(b"\n")
            if cut < 0:
                pending = buf
                continue
            pending = buf[cut + 1 :]
            await self._put(buf[:cut].split(b"\n"), excluded)
        await proc.wait()
        self._proc = None

    async def _put(self, lines: list[bytes], excluded: set[str]) -> None:
        texts: list[str] = []
        times: list[int | None] = []
        each: list[dict[str, str]] = []
        hosts: list[str | None] = []
        cursor = ""
        for line in lines:
            try:
                entry = orjson.loads(line)
            except orjson.JSONDecodeError:
                self.outlet.stats.errors += 1
                continue
            cursor = str(entry.get("__CURSOR", cursor))
            if entry.get("_SYSTEMD_UNIT") in excluded:
                continue
            texts.append(truncate(message_text(entry.get("MESSAGE")), self.config.max_event_size))
            rt = entry.get("__REALTIME_TIMESTAMP")
            times.append(int(rt) * 1000 if isinstance(rt, str) and rt.isdigit() else None)
            extra = {f"journal.{v}": str(entry[k]) for k, v in _KEEP.items() if k in entry}
            each.append(self.outlet.fields(extra))
            hosts.append(str(entry["_HOSTNAME"]) if "_HOSTNAME" in entry else None)
        receipt = await self.outlet.send(
            texts, {}, source="journald", times=times, fields_each=each, hosts=hosts
        )
        if cursor:
            self._acks.append((cursor, receipt))
            self._ack_ready.set()

    async def _ack_loop(self) -> None:
        while True:
            await self._ack_ready.wait()
            self._ack_ready.clear()
            while self._acks:
                cursor, receipt = self._acks[0]
                try:
                    await receipt
                except Exception:
                    return  # delivery closing: the cursor stays where it is safe
                self._acks.popleft()
                self.store.set("cursor", cursor)

    def stop(self) -> None:
        self._stopping.set()
        if self._proc is not None and self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.terminate()

    async def aclose(self) -> None:
        if self._ack_task is not None:
            for _ in range(100):
                if not self._acks or not self._acks[0][1].done():
                    break
                await asyncio.sleep(0.01)
            self._ack_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ack_task
        await self.store.aclose()
