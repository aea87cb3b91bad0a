"""Stream-extension benchmarks: a filtered feed over a large lake, ``start=time:``, position commits.

    python bench/stream_ext_bench.py filter --events 10000000
    python bench/stream_ext_bench.py time-start --events 10000000
    python bench/stream_ext_bench.py commits --seconds 10 --concurrency 32

``filter`` and ``time-start`` build a lake of ``--events`` events directly through the
storage API (``PartitionWriter``, batches of 2,000 events of about 250 bytes, their
ingest times spread over 30 days; building is not what is measured), kept under
``--lake`` so later runs reuse it. 1 % of the events (every hundredth) carry
``user=needle``.

``filter`` starts a real ``lakehose serve`` (one worker) on the lake, opens the data
feed with ``start=earliest&filter=user=needle`` and reads until every match has
arrived; it reports the time to the first match, the time to drain, and the events
scanned per second of wall time and per CPU-second of the server's worker (from
``/proc``), which is the figure that does not depend on what else the machine runs.

``time-start`` resolves ``start=time:T`` for random T over the lake's span, in
process (``LogReader.offset_for_time``, what the feed runs) and over HTTP (open a
feed with ``start=time:T``; time to its first event).

``commits`` starts a server and commits positions from ``--concurrency`` clients at
once for ``--seconds`` (each commit is durable: the catalog fsyncs), and reports
commits/s; ``--wrk`` drives them with wrk (C) instead of Python's httpx, whose own CPU
is what a shared machine runs out of first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.procstat import read_stat, tree
from lakehose.models import Slice
from lakehose.records import encode_line
from lakehose.storage.base import PendingAppend
from lakehose.storage.lake import open_data_dir, open_reader
from lakehose.storage.sqlite.partition import PartitionWriter
from lakehose.testing import RunningServer, run_server

BATCH = 2000
SPAN_NS = 30 * 86400 * 10**9
START_NS = 1_767_225_600 * 10**9  # 2026-01-01
PAYLOAD = "x" * 100


def _line(n: int) -> bytes:
    event = {
        "host": f"web-{n % 16:02d}",
        "action": "login" if n % 3 else "logout",
        "user": "needle" if n % 100 == 50 else f"user{n % 1000}",
        "src_ip": f"198.51.100.{n % 250}",
        "seq": n,
        "msg": PAYLOAD,
    }
    meta = {"time": START_NS + n * 1000, "host": f"web-{n % 16:02d}", "source": "bench"}
    return encode_line(meta, orjson.dumps(event))


def build_lake(data_dir: Path, events: int) -> None:
    """A lake of ``events`` events (skipped when ``data_dir`` already holds that many)."""
    from lakehose.config import Settings

    settings = Settings(data_dir=data_dir, partitions=1)
    catalog = open_data_dir(settings)
    catalog.close()
    reader = open_reader(data_dir, 0)
    have = reader.bounds()[1]
    reader.close()
    if have >= events:
        return
    batches = (events - have + BATCH - 1) // BATCH
    clock = {"now": START_NS}
    writer = PartitionWriter(
        data_dir, 0, durability="none", zstd_level=1, clock=lambda: clock["now"]
    )
    started = time.perf_counter()
    n = have
    try:
        for b in range(batches):
            count = min(BATCH, events - n)
            sl = Slice("default", "main", "httpevent")
            sl.lines = [_line(i) for i in range(n, n + count)]
            sl.nbytes = sum(len(x) + 1 for x in sl.lines)
            sl.min_time, sl.max_time = START_NS + n * 1000, START_NS + (n + count) * 1000
            clock["now"] = START_NS + SPAN_NS * n // events
            writer.append([PendingAppend([sl])])
            n += count
            if b % 500 == 0:
                print(
                    f"  built {n:,} events ({time.perf_counter() - started:.0f} s)", file=sys.stderr
                )
    finally:
        writer.close()


@contextmanager
def lake_server(lake: Path | None, events: int) -> Iterator[RunningServer]:
    with tempfile.TemporaryDirectory(prefix="lakehose-ext-bench-") as tmp:
        data_dir = lake or Path(tmp) / "data"
        build_lake(data_dir, events)
        args = ["--no-access-log", "--log-level", "warning", "--heartbeat-interval", "1"]
        with run_server(data_dir, workers=1, args=args, timeout=120) as server:
            yield server


def _token(server: RunningServer, scopes: tuple[str, ...] = ("streams:read",)) -> str:
    from tests.helpers import bearer_token

    return bearer_token(server, *scopes)


def _worker_cpu(server: RunningServer) -> float:
    assert server.proc is not None
    total = 0.0
    for pid in tree([server.proc.pid]):
        stat = read_stat(pid)
        if stat is not None:
            total += stat.cpu_seconds
    return total


def _discover(server: RunningServer, token: str, app: str) -> dict[str, Any]:
    reply = httpx.get(
        server.url + "/sensors/entities/datafeed/v2",
        params={"appId": app},
        headers={"Authorization": f"Bearer {token}"},
    )
    resource: dict[str, Any] = reply.json()["resources"][0]
    return resource


def _open(server: RunningServer, token: str, app: str, query: str) -> tuple[httpx.Client, Any]:
    return _open_resource(_discover(server, token, app), query)


def _open_resource(resource: dict[str, Any], query: str) -> tuple[httpx.Client, Any]:
    client = httpx.Client(timeout=httpx.Timeout(600.0))
    request = client.build_request(
        "GET",
        resource["dataFeedURL"] + query,
        headers={"Authorization": f"Token {resource['sessionToken']['token']}"},
    )
    return client, client.send(request, stream=True)


def bench_filter(args: argparse.Namespace) -> dict[str, Any]:
    with lake_server(args.lake, args.events) as server:
        token = _token(server)
        expected = (args.events + 99) // 100
        resource = _discover(server, token, "bench-filter")
        cpu_before = _worker_cpu(server)
        started = time.perf_counter()  # from the feed request on (discovery left out)
        client, response = _open_resource(resource, "&start=earliest&filter=user%3Dneedle")
        first = None
        got = 0
        pending = b""
        for chunk in response.iter_raw():
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            for line in lines:
                if line.strip():
                    got += 1
                    if first is None:
                        first = time.perf_counter() - started
            if got >= expected:
                break
        drained = time.perf_counter() - started
        cpu = _worker_cpu(server) - cpu_before
        response.close()
        client.close()
    return {
        "scenario": "filter",
        "events_in_lake": args.events,
        "matches": got,
        "time_to_first_match_ms": round((first or 0) * 1000, 2),
        "drain_seconds": round(drained, 3),
        "scanned_events_per_second": round(args.events / drained),
        "server_cpu_seconds": round(cpu, 3),
        "scanned_events_per_cpu_second": round(args.events / cpu) if cpu else None,
    }


def bench_time_start(args: argparse.Namespace) -> dict[str, Any]:
    with lake_server(args.lake, args.events) as server:
        reader = open_reader(server.data_dir, 0)
        rng = random.Random(7)
        times = [START_NS + rng.randrange(SPAN_NS) for _ in range(args.lookups)]
        took = []
        for t in times:
            t0 = time.perf_counter()
            reader.offset_for_time(t)
            took.append((time.perf_counter() - t0) * 1000)
        reader.close()
        token = _token(server)
        http = []
        for i, t in enumerate(times[:20]):
            resource = _discover(server, token, f"bench-time-{i}")
            t0 = time.perf_counter()
            client, response = _open_resource(resource, f"&start=time:{t}")
            for chunk in response.iter_raw():
                if chunk.strip():
                    break
            http.append((time.perf_counter() - t0) * 1000)
            response.close()
            client.close()
    took.sort()
    return {
        "scenario": "time-start",
        "events_in_lake": args.events,
        "lookups": len(took),
        "in_process_ms_p50": round(statistics.median(took), 3),
        "in_process_ms_p99": round(took[int(len(took) * 0.99) - 1], 3),
        "in_process_ms_max": round(took[-1], 3),
        "http_first_event_ms_p50": round(statistics.median(http), 2),
        "http_first_event_ms_max": round(max(http), 2),
    }


def bench_commits(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="lakehose-ext-bench-") as tmp:
        argv = ["--no-access-log", "--log-level", "warning"]
        with run_server(Path(tmp) / "data", workers=args.workers, args=argv, timeout=60) as server:
            httpx.post(
                server.hec_url,
                content=b'{"event": 1}' * 10,
                headers={"Authorization": f"Splunk {server.api_key}"},
            )
            token = _token(server)
            counts = [0] * args.concurrency
            errors = [0] * args.concurrency

            async def committer(c: httpx.AsyncClient, i: int, stop: float) -> None:
                n = 0
                while time.monotonic() < stop:
                    reply = await c.post(
                        f"/api/v1/stream-groups/bench-{i}/commit",
                        json={"partition": 0, "offset": n % 10},
                    )
                    if reply.status_code == 200:
                        counts[i] += 1
                    else:
                        errors[i] += 1
                    n += 1

            async def run() -> None:
                limits = httpx.Limits(max_connections=args.concurrency)
                async with httpx.AsyncClient(
                    base_url=server.url,
                    headers={"Authorization": f"Bearer {token}"},
                    limits=limits,
                    timeout=60,
                ) as c:
                    stop = time.monotonic() + args.seconds
                    await asyncio.gather(*(committer(c, i, stop) for i in range(args.concurrency)))

            cpu_before = _worker_cpu(server)
            started = time.perf_counter()
            if args.wrk:
                wrk = _wrk(server, token, args)
                counts[0], errors[0] = wrk["ok"], wrk["errors"]
            else:
                asyncio.run(run())
            elapsed = time.perf_counter() - started
            cpu = _worker_cpu(server) - cpu_before
    total = sum(counts)
    return {
        "scenario": "commits",
        "concurrency": args.concurrency,
        "workers": args.workers,
        "commits": total,
        "errors": sum(errors),
        "seconds": round(elapsed, 2),
        "commits_per_second": round(total / elapsed),
        "server_cpu_seconds": round(cpu, 2),
    }


def _wrk(server: RunningServer, token: str, args: argparse.Namespace) -> dict[str, Any]:
    """Commits driven by wrk (C, one thread): the client takes little of a shared CPU."""
    import shutil
    import subprocess

    binary = shutil.which("wrk")
    if binary is None:
        raise SystemExit("wrk is not installed (apt-get install wrk), or leave out --wrk")
    script = Path(__file__).with_name("commit.lua")
    out = subprocess.run(
        [binary, "-t1", f"-c{args.concurrency}", f"-d{int(args.seconds)}s", "-s", str(script)]
        + [server.url, "--", token],
        capture_output=True,
        text=True,
        timeout=args.seconds + 60,
        check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("BENCH_RESULT "))
    result: dict[str, Any] = json.loads(line.split(" ", 1)[1])
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="scenario", required=True)
    for name in ("filter", "time-start"):
        s = sub.add_parser(name)
        s.add_argument("--events", type=int, default=1_000_000)
        s.add_argument("--lake", type=Path, default=None, help="keep (and reuse) the lake here")
        s.add_argument("--lookups", type=int, default=1000)
    c = sub.add_parser("commits")
    c.add_argument("--seconds", type=float, default=10.0)
    c.add_argument("--concurrency", type=int, default=32)
    c.add_argument("--workers", type=int, default=1)
    c.add_argument("--wrk", action="store_true", help="drive the commits with wrk")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    run = {"filter": bench_filter, "time-start": bench_time_start, "commits": bench_commits}
    result = run[args.scenario](args)
    print(json.dumps(result) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()))
    return 0 if not result.get("errors") else 1


if __name__ == "__main__":
    raise SystemExit(main())
