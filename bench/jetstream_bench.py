"""Append throughput of the event-log backends: embedded SQLite vs JetStream (R3 and R1).

    .venv/bin/python -m bench.jetstream_bench [--events 400000] [--batch 100] [--concurrency 256]

Appends ``--events`` events in requests of ``--batch`` events (about 20 KB each), with
``--concurrency`` requests in flight, through the :class:`EventLog` interface the server
uses (so no HTTP: this measures the log alone), into:

* ``sqlite``: the embedded default, fsync per group commit;
* ``jetstream-r3``: a local 3-node NATS cluster, one R3 stream, pipelined publishes;
* ``jetstream-r1``: one NATS node, an R1 stream.

Reports events/s and events per CPU-second of everything involved (this Python process
plus the nats-servers, split between them), from ``/proc``. Loopback only, bounded in count; on a shared
machine the figures are noisy: compare them side by side, run twice.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from bench.procstat import read_proc
from lakehose.models import Slice
from lakehose.records import encode_line
from lakehose.storage.base import EventLog, PendingAppend
from lakehose.storage.jetstream.devcluster import DevCluster
from lakehose.storage.jetstream.log import JetStreamEventLog
from lakehose.storage.sqlite.log import SqliteEventLog
from lakehose.storage.sqlite.partition import create_partition


def request(batch: int, seq: int) -> PendingAppend:
    s = Slice("bench", "main", "json")
    now = time.time_ns()
    for i in range(batch):
        event = {
            "seq": seq,
            "i": i,
            "msg": "user login failed",
            "src": "10.0.0.7",
            "pad": "x" * 120,
        }
        s.add(encode_line({"time": now}, orjson.dumps(event)), now)
    return PendingAppend([s])


async def drive(log: EventLog, events: int, batch: int, concurrency: int) -> float:
    await log.start(asyncio.get_running_loop())
    body = request(batch, 0)
    todo = iter(range(events // batch))

    async def sender() -> None:
        for _ in todo:
            await log.append(0, body, 20_000)

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(concurrency)))
    took = time.perf_counter() - started
    await log.close()
    return took


def cpu(pids: list[int]) -> float:
    return sum(p.cpu_seconds for p in map(read_proc, pids) if p is not None)


def run(name: str, make: Callable[[], EventLog], pids: list[int], args: argparse.Namespace) -> None:
    ours_before, nats_before = cpu(pids[:1]), cpu(pids[1:])
    took = asyncio.run(drive(make(), args.events, args.batch, args.concurrency))
    ours, nats = cpu(pids[:1]) - ours_before, cpu(pids[1:]) - nats_before
    spent = ours + nats
    rate = args.events / took
    print(
        f"{name:14} {rate:>10,.0f} events/s  {took:6.2f} s  "
        f"cpu {spent:6.2f} s (lakehose {ours:.2f}, nats {nats:.2f})  "
        f"{args.events / max(spent, 1e-9):>10,.0f} events/cpu-s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=400_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--sync-interval", default="always", help="nats-server sync_interval")
    args = parser.parse_args()
    me = os.getpid()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        create_partition(root, 0)
        run("sqlite", lambda: SqliteEventLog(root, 1, durability="fsync"), [me], args)
        with DevCluster(root / "r3", 3, args.sync_interval) as cluster:
            pids = [me, *(n.pid for n in cluster.nodes)]
            run("jetstream-r3", lambda: JetStreamEventLog(cluster.urls, 1, replicas=3), pids, args)
        with DevCluster(root / "r1", 1, args.sync_interval) as single:
            pids = [me, single.nodes[0].pid]
            run("jetstream-r1", lambda: JetStreamEventLog(single.urls, 1, replicas=1), pids, args)


if __name__ == "__main__":
    main()
