"""The collector process: opens each sink's delivery, runs the sources, serves status, stops cleanly.

Shutdown order matters for the at-least-once contract: sources stop reading first, then each
delivery flushes what it can (``aclose``), and only then do sources settle their receipts
and write their checkpoints. A stop at any point leaves checkpoints at or behind what is safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import orjson

import lakehose
from lakehose.collector.config import CollectorConfig, SourceConfig
from lakehose.collector.delivery import Delivery, OpenDelivery
from lakehose.collector.sources.base import Outlet, Source
from lakehose.collector.status import StatusServer, uptime_since
from lakehose.errors import ConfigError, DataDirError

log = logging.getLogger(__name__)
STATE_FILE = "collector.json"


def build_source(
    cfg: SourceConfig, outlet: Outlet, data_dir: Path, environ: Mapping[str, str]
) -> Source:
    """The source object for a ``sources.<name>`` block (imported lazily, by type)."""
    if cfg.type == "file":
        from lakehose.collector.sources.file import FileSource

        return FileSource(outlet, data_dir)
    if cfg.type in ("syslog", "syslog_tls"):
        from lakehose.collector.sources.syslog import SyslogSource

        return SyslogSource(outlet)
    if cfg.type == "stdin":
        from lakehose.collector.sources.stdin import StdinSource

        return StdinSource(outlet)
    if cfg.type == "cmd":
        from lakehose.collector.sources.command import CommandSource

        return CommandSource(outlet, environ)
    from lakehose.collector.sources.journald import JournaldSource

    return JournaldSource(outlet, data_dir)


def read_state(data_dir: Path) -> dict[str, Any] | None:
    """What a running collector wrote about itself (pid, status URL), if anything."""
    try:
        data = orjson.loads((data_dir / STATE_FILE).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


class Collector:
    """One ``lakehose collect`` run."""

    def __init__(
        self,
        config: CollectorConfig,
        open_delivery: OpenDelivery,
        environ: Mapping[str, str],
        host: str | None = None,
    ) -> None:
        self.config = config
        self.open_delivery = open_delivery
        self.environ = environ
        self.host = host or socket.gethostname()
        self.deliveries: dict[str, Delivery] = {}
        self.sources: dict[str, Source] = {}
        self.started = time.monotonic()
        self.status: StatusServer | None = None
        self._lock: IO[bytes] | None = None

    def snapshot(self) -> dict[str, Any]:
        sources = {}
        for name, src in self.sources.items():
            cfg = src.outlet.config
            entry: dict[str, Any] = {"type": cfg.type, "sink": cfg.sink}
            address = getattr(src, "address", "")
            if address:
                entry["address"] = address
            entry.update(src.outlet.stats.as_dict())  # after type/sink: counters only
            sources[name] = entry
        sinks: dict[str, dict[str, Any]] = {}
        for name, d in self.deliveries.items():
            try:
                sinks[name] = dict(d.stats())
            except Exception as exc:  # a sink's bug must not hide the sources' figures
                sinks[name] = {"error": str(exc)}
        return {
            "version": lakehose.__version__,
            "pid": os.getpid(),
            "host": self.host,
            "uptime_seconds": uptime_since(self.started),
            "sources": sources,
            "sinks": sinks,
        }

    def _take_lock(self, data_dir: Path) -> None:
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
            self._lock = (data_dir / "collector.lock").open("ab")
        except OSError as exc:
            raise DataDirError(str(data_dir), exc.strerror or str(exc)) from exc
        try:
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise DataDirError(str(data_dir), "another collector is using it") from None

    async def run(self, stop: asyncio.Event) -> int:
        """Run until ``stop`` is set or every source finished; the exit status."""
        cfg = self.config
        data_dir = cfg.data_directory
        self._take_lock(data_dir)
        for name in sorted({s.sink for s in cfg.sources.values()}):
            self.deliveries[name] = await self.open_delivery(cfg.sinks[name], data_dir)
        for name, scfg in cfg.sources.items():
            outlet = Outlet(scfg, self.deliveries[scfg.sink], self.host)
            self.sources[name] = build_source(scfg, outlet, data_dir, self.environ)
        self.status = StatusServer(self.snapshot, cfg.status.bind, cfg.status.port)
        try:
            await self.status.start()
        except OSError as exc:
            raise ConfigError(
                f"status endpoint {cfg.status.bind}:{cfg.status.port}: {exc.strerror or exc};"
                " set status.port (0 picks a free port)"
            ) from exc
        state = {"pid": os.getpid(), "status_url": self.status.url}
        tmp = data_dir / (STATE_FILE + ".tmp")
        tmp.write_bytes(orjson.dumps(state))
        os.replace(tmp, data_dir / STATE_FILE)
        log.info("collector started: %d sources, status on %s", len(self.sources), self.status.url)
        tasks: dict[asyncio.Future[Any], str] = {
            asyncio.ensure_future(s.run()): name for name, s in self.sources.items()
        }
        stopper: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
        code = 0
        pending: set[asyncio.Future[Any]] = set(tasks)
        while pending:
            done, pending = await asyncio.wait(
                pending | {stopper}, return_when=asyncio.FIRST_COMPLETED
            )
            pending.discard(stopper)
            failed = [t for t in done if t is not stopper and t.exception() is not None]
            for t in failed:
                log.error("source %s failed: %s", tasks[t], t.exception())
                code = 1
            if stopper in done or failed:
                break
        await self._shutdown(tasks)
        stopper.cancel()
        return code

    async def _shutdown(self, tasks: Mapping[asyncio.Future[Any], str]) -> None:
        for s in self.sources.values():
            s.stop()
        _, late = await asyncio.wait(list(tasks), timeout=10)
        for t in late:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(BaseException):
                await t
        for name, d in self.deliveries.items():
            try:
                await d.aclose()
            except Exception:
                log.exception("sink %s did not close cleanly", name)
        for s in self.sources.values():
            await s.aclose()
        if self.status is not None:
            await self.status.aclose()
        with contextlib.suppress(OSError):
            (self.config.data_directory / STATE_FILE).unlink()
        log.info("collector stopped")
