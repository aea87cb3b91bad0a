"""The columnar compactor runs beside the server in a child process of worker 0.

In its own process it takes no interpreter lock from ingest; it dies with its
worker (``PR_SET_PDEATHSIG``), and a kill at any point is safe (see
``storage/columnar/compactor.py``), so stopping it is a plain SIGKILL.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import signal
from multiprocessing.process import BaseProcess
from pathlib import Path

from lakehose.config import Settings

PROCESS_NAME = b"lakehose-column"  # /proc/PID/comm holds 15 bytes


def _main(data_dir: str, partitions: int, after: float, interval: float) -> None:
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        libc.prctl(15, PROCESS_NAME)  # PR_SET_NAME
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        import os

        os.nice(5)  # compaction yields the CPU to ingest and search
    from lakehose.storage.columnar.compactor import run_forever

    run_forever(Path(data_dir), partitions, after, interval)


def start_compactor(settings: Settings) -> BaseProcess | None:
    """Start the compactor if ``columnar_after`` is set; the process, or None."""
    if settings.columnar_after is None:
        return None
    ctx = multiprocessing.get_context("spawn")
    proc = ctx.Process(
        target=_main,
        args=(
            str(settings.data_dir),
            settings.partitions,
            settings.columnar_after,
            settings.columnar_interval,
        ),
        name="lakehose-compact",
        daemon=False,
    )
    proc.start()
    return proc


def stop_compactor(proc: BaseProcess | None) -> None:
    if proc is not None and proc.is_alive():
        proc.kill()
        proc.join(5)
