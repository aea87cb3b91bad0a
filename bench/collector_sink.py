"""``python -m bench.collector_sink``: the collector's disk queue and HEC sink, measured.

Two figures, each over a bounded time on loopback only:

- **disk queue write**: MB/s of event payload appended to a disk queue, every ``put``
  awaited (so fsynced: what a source waits for), with 1 and with 4 concurrent producers
  (group commit). Reported with the filesystem; on ``tmpfs`` fsync costs nothing.
- **sink to lakehose**: events/s from ``Delivery.put`` to a lakehose ``200`` (memory queue,
  gzip, 1 MiB batches), with the collector's CPU seconds, so the figure can be read per
  CPU-second on a shared machine. The lakehose runs with fsync on, one worker.

Figures on a shared 2-core machine are noisy; compare runs made back to back.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from bench.procstat import read_stat
from bench.target import filesystem_of
from lakehose.collector.delivery import CollectedEvent, QueueConfig, SinkConfig
from lakehose.collector.queue.disk import DiskQueue
from lakehose.collector.sink import open_delivery
from lakehose.collector.sink.envelope import envelope_line
from lakehose.testing import run_server

MB = 1_000_000


def event_lines(size: int, count: int) -> list[bytes]:
    pad = "x" * max(0, size - 60)
    return [
        envelope_line(CollectedEvent(f"2026-12-05T10:00:00Z host app[{i}]: message {pad}"))
        for i in range(count)
    ]


async def disk_write(directory: Path, seconds: float, producers: int, size: int) -> dict[str, Any]:
    queue = DiskQueue(directory, 100_000 * 1024 * 1024, "pause", "bench")
    batch = event_lines(size, 1000)
    batch_bytes = sum(len(x) for x in batch)
    written = 0
    cpu0, t0 = time.process_time(), time.perf_counter()
    deadline = t0 + seconds

    async def produce() -> None:
        nonlocal written
        while time.perf_counter() < deadline:
            await queue.put(batch)
            written += batch_bytes
            # a reader would delete delivered segments; here they are committed at once
            queue.commit(queue._durable_last)

    await asyncio.gather(*(produce() for _ in range(producers)))
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    await queue.aclose()
    return {
        "scenario": f"disk queue write, {producers} producer(s)",
        "MB/s": round(written / MB / elapsed, 1),
        "events/s": round(written / batch_bytes * 1000 / elapsed),
        "CPU s": round(cpu, 2),
        "MB per CPU-s": round(written / MB / cpu, 1) if cpu else None,
        "event bytes": round(batch_bytes / 1000),
    }


async def sink_throughput(
    url: str, token: str, data_dir: Path, seconds: float, size: int, compression: str
) -> dict[str, Any]:
    sink = SinkConfig(
        name="bench",
        url=url,
        token=token,
        compression=compression,  # type: ignore[arg-type]
        queue=QueueConfig(max_limit_mb=64, flush_timeout_ms=100),
    )
    delivery = await open_delivery(sink, data_dir)
    pad = "x" * max(0, size - 60)
    events = [CollectedEvent(f"2026-12-05T10:00:00Z host app[{i}]: m {pad}") for i in range(1000)]
    cpu0, t0 = time.process_time(), time.perf_counter()
    deadline = t0 + seconds
    receipts = []
    put = 0
    while time.perf_counter() < deadline:
        receipts.append(await delivery.put(events))
        put += len(events)
        receipts = [r for r in receipts if not r.done()]
    await asyncio.gather(*receipts)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    stats = dict(delivery.stats())
    await delivery.aclose()
    return {
        "scenario": f"sink to lakehose, {compression}",
        "events/s": round(stats["sent"] / elapsed),
        "MB/s": round(stats["sent"] * (size + 20) / MB / elapsed, 1),
        "collector CPU s": round(cpu, 2),
        "events per collector CPU-s": round(stats["sent"] / cpu) if cpu else None,
        "sent": stats["sent"],
        "put": put,
        "retries": stats["retries"],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.collector_sink", description=__doc__)
    p.add_argument("-d", "--duration", type=float, default=5.0, help="seconds per scenario")
    p.add_argument("--event-size", type=int, default=250, help="bytes per event (about)")
    p.add_argument("--data-parent", type=Path, help="where the queue and the lake go")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(dir=args.data_parent) as tmp:
        root = Path(tmp)
        fs = filesystem_of(root)
        for producers in (1, 4):
            directory = root / f"queue-{producers}"
            results.append(
                asyncio.run(disk_write(directory, args.duration, producers, args.event_size))
            )
        with run_server(root / "lake") as server:
            server_cpu0 = read_stat(server.proc.pid) if server.proc else None
            for compression in ("gzip", "none"):
                result = asyncio.run(
                    sink_throughput(
                        server.url,
                        server.api_key or "",
                        root / f"collector-{compression}",
                        args.duration,
                        args.event_size,
                        compression,
                    )
                )
                results.append(result)
            server_cpu1 = read_stat(server.proc.pid) if server.proc else None
    if args.json:
        print(orjson.dumps({"filesystem": fs, "results": results}).decode())
        return 0
    print(f"filesystem: {fs}{' (fsync costs nothing here)' if fs == 'tmpfs' else ''}")
    print(f"CPUs: {len(os.sched_getaffinity(0))}; figures on a shared machine are noisy")
    for r in results:
        print("  " + "; ".join(f"{k}: {v}" for k, v in r.items()))
    if server_cpu0 and server_cpu1:
        print(
            f"  lakehose server CPU s (both sink runs): {server_cpu1.cpu_seconds - server_cpu0.cpu_seconds:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
