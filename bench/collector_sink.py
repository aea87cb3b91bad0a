"""``python -m bench.collector_sink``: the collector's disk queue and HEC sink, measured.

Two figures, each over a bounded time on loopback only:

- **disk queue write**: MB/s of event payload made durable (written and fsynced) in a disk
  queue, with 1 and 4 producers putting 1,000 events at a time as sources do (a put
  returns at once, its receipt resolves after the fsync; concurrent puts share one fsync),
  next to the disk's own figure (write + fdatasync of the same size in a loop). Reported
  with the filesystem; on ``tmpfs`` fsync costs nothing.
- **sink to lakehose**: events/s from ``Delivery.put`` to a lakehose ``200`` (memory queue,
  gzip, 1 MiB batches), with the collector's CPU seconds, so the figure can be read per
  CPU-second on a shared machine. The lakehose runs with fsync on, one worker.

Figures on a shared 2-core machine are noisy; compare runs made back to back.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
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


WORDS = (
    "accepted failed session opened closed for user root admin from port ssh2 kernel "
    "connection reset timeout GET POST /api/v1/items 200 404 500 bytes ms upstream"
).split()


def log_lines(size: int, count: int, seed: int = 7) -> list[str]:
    """Syslog-like lines of about ``size`` bytes, varied so they compress as logs do."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        head = (
            f"2026-12-05T10:{i % 60:02d}:{rng.randrange(60):02d}.{rng.randrange(10**6):06d}Z "
            f"web{rng.randrange(40)} app[{rng.randrange(99999)}]: "
            f"ip=10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)} "
            f"id={rng.getrandbits(64):016x}"
        )
        words: list[str] = []
        while len(head) + sum(len(w) + 1 for w in words) < size:
            words.append(rng.choice(WORDS))
        out.append(head + " " + " ".join(words))
    return out


def event_lines(size: int, count: int) -> list[bytes]:
    return [envelope_line(CollectedEvent(text)) for text in log_lines(size, count)]


async def disk_write(directory: Path, seconds: float, producers: int, size: int) -> dict[str, Any]:
    queue = DiskQueue(directory, 100_000 * 1024 * 1024, "pause", "bench")
    batch = event_lines(size, 1000)
    batch_bytes = sum(len(x) for x in batch)
    written = 0
    cpu0, t0 = time.process_time(), time.perf_counter()
    deadline = t0 + seconds

    async def produce() -> None:
        # as a source does: put, and move on; the receipt (durable future) resolves later
        nonlocal written
        while time.perf_counter() < deadline:
            _, durable = await queue.append(batch)
            assert durable is not None
            durable.add_done_callback(lambda _: queue.commit(queue._durable_last))
            written += batch_bytes
        await queue.put([])

    await asyncio.gather(*(produce() for _ in range(producers)))
    while queue._pending or queue._pending_bytes:
        await asyncio.sleep(0.001)
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


def raw_fsync(directory: Path, seconds: float, chunk: int) -> dict[str, Any]:
    """The disk's own figure: appends of ``chunk`` bytes, each followed by fdatasync."""
    directory.mkdir(parents=True, exist_ok=True)
    data = os.urandom(chunk)
    written = 0
    fd = os.open(directory / "raw", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    t0 = time.perf_counter()
    try:
        while time.perf_counter() < t0 + seconds:
            os.write(fd, data)
            os.fdatasync(fd)
            written += chunk
    finally:
        os.close(fd)
    elapsed = time.perf_counter() - t0
    return {
        "scenario": f"raw write+fdatasync of {chunk // 1000} kB (the disk, for reference)",
        "MB/s": round(written / MB / elapsed, 1),
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
    events = [CollectedEvent(text) for text in log_lines(size, 1000)]
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
        "MB/s": round(stats["sent"] * (size + 14) / MB / elapsed, 1),
        "collector CPU s": round(cpu, 2),
        "events per collector CPU-s": round(stats["sent"] / cpu) if cpu else None,
        "sent": stats["sent"],
        "put": put,
        "retries": stats["retries"],
    }


async def sdk_throughput(
    url: str, token: str, seconds: float, size: int, compression: str
) -> dict[str, Any]:
    """The same events through the SDK's ``AsyncHEC`` (2 requests in flight): what the
    server gives any sender now, to read the sink's figure against."""
    from lakehose.client import AsyncHEC

    envelopes = [{"event": text} for text in log_lines(size, 1000)]
    sent = 0
    cpu0, t0 = time.process_time(), time.perf_counter()
    async with AsyncHEC(
        token,
        base_url=url,
        compression=None if compression == "none" else compression,
        thread_count=2,
        batch_size=4000,
    ) as hec:
        while time.perf_counter() < t0 + seconds:
            result = await hec.send_events(envelopes * 4)
            sent += result.accepted
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return {
        "scenario": f"SDK AsyncHEC to lakehose, {compression} (reference)",
        "events/s": round(sent / elapsed),
        "client CPU s": round(cpu, 2),
        "sent": sent,
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
        results.append(raw_fsync(root / "raw", args.duration, 266_000))
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
                results.append(
                    asyncio.run(
                        sdk_throughput(
                            server.url,
                            server.api_key or "",
                            args.duration,
                            args.event_size,
                            compression,
                        )
                    )
                )
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
            f"  lakehose server CPU s (the sink and SDK runs): {server_cpu1.cpu_seconds - server_cpu0.cpu_seconds:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
