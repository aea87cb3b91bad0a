"""Group commit under single-event senders, in process: how waits and commits interact.

N senders on one event loop, each appending one ~170-byte event and waiting for it to
be durable before the next (as a keep-alive HEC connection without pipelining does),
against the embedded log with fsync. No HTTP: this isolates the commit's share. For
each N and each gather policy it prints appends/s, appends per commit, append latency
(p50/p99) and the process's CPU seconds per 1,000 appends (loop and commit thread).

    python -m bench.commit_bench --senders 32,256,1000 --seconds 3

Policies: ``none`` (commit as soon as the last commit ends), ``fixed`` (sleep the whole
gather window when the last group was shared: lakehose before issue 15), ``adaptive``
(the same window, cut short once as many appends as the last group are queued: now).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from lakehose.config import Settings
from lakehose.models import Slice
from lakehose.storage.base import PendingAppend
from lakehose.storage.lake import open_data_dir, open_log
from lakehose.storage.sqlite.committer import GroupCommitter
from lakehose.storage.sqlite.log import SqliteEventLog

LINE = (
    b'{"time":1700021013297000000,"host":"fw-09","source":"bench"}\t'
    b'{"action":"drop","src":"10.1.225.179","dst":"192.168.14.105","dport":80,"user":"u","b":1}'
)


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _fixed(self: GroupCommitter, expected: int) -> None:
    time.sleep(self._gather)  # the policy before issue 15


async def _run(senders: int, seconds: float, gather: float, data: Path) -> dict[str, Any]:
    settings = Settings(data_dir=data, durability="fsync", commit_gather=gather)
    open_data_dir(settings).close()  # the catalog and partition files, as `serve` makes them
    log = open_log(settings)
    assert isinstance(log, SqliteEventLog)
    await log.start(asyncio.get_running_loop())
    committer = log.committers[0]
    latencies: list[float] = []
    stop = False

    async def sender() -> None:
        while not stop:
            sl = Slice("bench", "main", "httpevent", [LINE])
            sl.min_time = sl.max_time = 1700021013297000000
            sl.nbytes = len(LINE) + 1
            t0 = time.perf_counter()
            await log.append(0, PendingAppend([sl]), sl.nbytes)
            latencies.append(time.perf_counter() - t0)

    tasks = [asyncio.create_task(sender()) for _ in range(senders)]
    await asyncio.sleep(0.5)  # warm-up
    latencies.clear()
    commits0, cpu0, t0 = committer.commits, _cpu(), time.perf_counter()
    await asyncio.sleep(seconds)
    n, commits, cpu = len(latencies), committer.commits - commits0, _cpu() - cpu0
    wall = time.perf_counter() - t0
    stop = True
    await asyncio.gather(*tasks)
    await log.close()
    lat = sorted(latencies[:n])
    return {
        "senders": senders,
        "appends_per_s": round(n / wall),
        "per_commit": round(n / max(commits, 1), 1),
        "p50_ms": round(lat[len(lat) // 2] * 1000, 2) if lat else None,
        "p99_ms": round(lat[int(len(lat) * 0.99)] * 1000, 2) if lat else None,
        "cpu_s_per_1k": round(cpu / max(n, 1) * 1000, 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--senders", default="32,256,1000")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--gather", type=float, default=0.0005)
    parser.add_argument("--policies", default="none,fixed,adaptive")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    adaptive = GroupCommitter._gather_crowd
    rows = []
    for senders in (int(x) for x in args.senders.split(",")):
        for policy in args.policies.split(","):
            GroupCommitter._gather_crowd = _fixed if policy == "fixed" else adaptive  # type: ignore[method-assign]
            gather = 0.0 if policy == "none" else args.gather
            with tempfile.TemporaryDirectory() as tmp:
                row = asyncio.run(_run(senders, args.seconds, gather, Path(tmp)))
            row["policy"] = policy
            rows.append(row)
            if not args.json:
                print(
                    f"{senders:>5} senders {policy:>8}: {row['appends_per_s']:>7,} appends/s"
                    f"  {row['per_commit']:>6} per commit  p50 {row['p50_ms']} ms"
                    f"  p99 {row['p99_ms']} ms  {row['cpu_s_per_1k']} CPU-s/1k",
                    flush=True,
                )
    GroupCommitter._gather_crowd = adaptive  # type: ignore[method-assign]
    if args.json:
        print(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
