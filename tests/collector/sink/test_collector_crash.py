"""SIGKILL the process that holds a sink's delivery while it sends: after a restart that
resumes from its last safe point, every event that was safe is in the lake."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from lakehose.testing import RunningServer
from tests.collector.sink.outage import lake_numbers_raw


def source(
    server: RunningServer, data_dir: Path, run: str, start: int, queue: str, *extra: str
) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOSE_")}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.collector.sink.crashing_source",
            server.url,
            server.api_key or "",
            str(data_dir),
            run,
            str(start),
            queue,
            *extra,
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def run_until_killed(
    server: RunningServer, data_dir: Path, run: str, start: int, queue: str, safe_lines: int
) -> int:
    """Start the source at ``start``; SIGKILL it after ``safe_lines`` safe reports; the last
    number reported safe (``start - 1`` if none)."""
    proc = source(server, data_dir, run, start, queue)
    assert proc.stdout is not None
    safe = start - 1
    try:
        for _ in range(safe_lines):
            line = proc.stdout.readline()
            assert line.startswith("safe "), line
            safe = int(line.split()[1])
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        proc.stdout.close()
    return safe


def crash_cycles(server: RunningServer, tmp_path: Path, queue: str, cycles: int) -> str:
    """Kill the source ``cycles`` times at random moments, then let one run drain the queue;
    every event ever reported safe must be in the lake. A summary line."""
    rng = random.Random()
    run = uuid.uuid4().hex[:12]
    start = 0
    for _ in range(cycles):
        safe = run_until_killed(server, tmp_path, run, start, queue, rng.randint(5, 40))
        start = safe + 1  # a source resumes after its checkpoint
    drain = source(server, tmp_path, run, start, queue, "drain")
    out, _ = drain.communicate(timeout=60)
    assert drain.returncode == 0 and out.strip() == "drained", out
    lake = lake_numbers_raw(server, run)
    assert set(range(start)) <= set(lake), "events reported safe never reached the lake"
    duplicates = sum(n - 1 for n in lake.values())
    # a kill repeats at most the batches in flight (2 of 32 KB, ~250 events) and one put (20)
    assert duplicates <= cycles * (2 * 32 * 1024 // 130 + 20)
    return f"{queue}: {cycles} kills, {start} safe events, all stored; {duplicates} duplicates"


def test_a_killed_collector_resumes_from_its_disk_queue_and_loses_nothing(
    server: RunningServer, tmp_path: Path
) -> None:
    print(crash_cycles(server, tmp_path, "disk", 2))
