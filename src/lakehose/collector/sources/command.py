"""The ``cmd`` source: a command's standard output, one event per line.

``mode: scheduled`` runs the command every ``interval`` seconds; ``mode: streaming`` runs it
once and reads its output as it comes, starting it again ``interval`` seconds after it exits.
Its standard error goes to the collector's log, a line at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Mapping

from lakehose.collector.sources.base import Outlet
from lakehose.collector.sources.lines import LineSplitter

log = logging.getLogger(__name__)


class CommandSource:
    """Runs ``cmd`` with ``args`` and ``environment`` (added to the collector's own)."""

    def __init__(self, outlet: Outlet, environ: Mapping[str, str]) -> None:
        self.outlet = outlet
        self.config = outlet.config
        self.env = {**environ, **self.config.environment}
        self._stopping = asyncio.Event()
        self._proc: asyncio.subprocess.Process | None = None
        outlet.stats.gauges.update(runs=0, failed_runs=0)

    async def run(self) -> None:
        cfg = self.config
        while not self._stopping.is_set():
            await self._once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), cfg.interval)

    async def _once(self) -> None:
        cfg = self.config
        stats = self.outlet.stats
        try:
            proc = await asyncio.create_subprocess_exec(
                cfg.cmd,
                *cfg.args,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,  # stop() ends the command's children too
            )
        except OSError as exc:
            log.error("source %s: cannot run %s: %s", cfg.name, cfg.cmd, exc)
            stats.errors += 1
            stats.gauges["failed_runs"] += 1
            return
        self._proc = proc
        stats.gauges["runs"] += 1
        assert proc.stdout is not None and proc.stderr is not None
        stderr = asyncio.ensure_future(self._log_stderr(proc.stderr))
        fields = self.outlet.fields({"@collect.cmd": cfg.cmd})
        splitter = LineSplitter(cfg.max_event_size)
        while True:
            data = await proc.stdout.read(256 * 1024)
            texts = splitter.feed(data) if data else splitter.close()
            if texts:
                _ = await self.outlet.send(texts, fields, source=cfg.cmd)
            if not data:
                break
        code = await proc.wait()
        await stderr
        self._proc = None
        if code != 0:
            stats.gauges["failed_runs"] += 1
            log.warning("source %s: %s exited with %d", cfg.name, cfg.cmd, code)

    async def _log_stderr(self, stream: asyncio.StreamReader) -> None:
        async for line in stream:
            log.warning("source %s: %s", self.config.name, line.decode(errors="replace").rstrip())

    def stop(self) -> None:
        self._stopping.set()
        if self._proc is not None and self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, signal.SIGTERM)

    async def aclose(self) -> None:
        pass
