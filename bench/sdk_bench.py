"""SDK send benchmark: 100,000 small events through ``HEC.send_event_list`` to a local lakehose.

Standalone: starts its own server (``lakehose.testing.run_server``) on a fresh data
directory, then times ``send_event_list`` end to end (FalconPy normalisation,
batching, compression, keep-alive connections, the server's durable commit) and
reports wall time, events/s and the client's peak RSS. Target (issue 4): under 2 s
and under 100 MB RSS on the project's 2-core machine.

    python bench/sdk_bench.py                       # 100,000 events, gzip, 1 worker
    python bench/sdk_bench.py --workers 2 --compression zstd --batch-size 2000
    python bench/sdk_bench.py --json                # one JSON line, for scripts
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path


def _peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _client_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _group_cpu(pgid: int) -> float:
    """CPU seconds used so far by the server's processes (its process group), from /proc."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after the name: state, ppid, pgrp, ...
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument("--compression", choices=["gzip", "zstd", "none"], default="gzip")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument(
        "--threads", type=int, default=None, help="requests in flight (default: HEC's)"
    )
    parser.add_argument("--durability", choices=["fsync", "none"], default="fsync")
    parser.add_argument("--runs", type=int, default=3, help="timed runs; the best is reported")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args(argv)

    from lakehose.client import HEC
    from lakehose.testing import run_server

    # The caller's data: small events, built before the clock starts (they count toward RSS).
    events = [
        {"host": "web1", "action": "login", "user": f"u{i % 100}", "n": i}
        for i in range(args.events)
    ]
    compression = None if args.compression == "none" else args.compression
    with tempfile.TemporaryDirectory(prefix="lakehose-sdk-bench-") as tmp:
        server_args = ["--durability", args.durability, "--no-access-log"]
        with run_server(Path(tmp) / "data", workers=args.workers, args=server_args) as server:
            assert server.api_key, "a fresh data directory prints its default key"
            assert server.proc is not None
            times: list[float] = []
            client_cpu: list[float] = []
            server_cpu: list[float] = []
            accepted = 0
            requests = 0
            for _ in range(args.runs):
                cpu0, server0 = _client_cpu(), _group_cpu(server.proc.pid)
                started = time.perf_counter()
                with HEC(
                    server.api_key,
                    base_url=server.url,
                    compression=compression,
                    batch_size=args.batch_size,
                    thread_count=args.threads,
                ) as hec:
                    sent = hec.send_event_list(events)
                    assert isinstance(sent, int)
                    accepted = sent
                    assert hec.last_result is not None
                    requests = hec.last_result.requests
                times.append(time.perf_counter() - started)
                client_cpu.append(_client_cpu() - cpu0)
                server_cpu.append(_group_cpu(server.proc.pid) - server0)
                if accepted != args.events:
                    print(f"only {accepted} of {args.events} accepted", file=sys.stderr)
                    return 1
    best = min(times)
    fastest = times.index(best)
    report = {
        "benchmark": "sdk_send_event_list",
        "events": args.events,
        "workers": args.workers,
        "compression": args.compression,
        "batch_size": args.batch_size,
        "requests": requests,
        "durability": args.durability,
        "seconds": round(best, 3),
        "all_seconds": [round(t, 3) for t in times],
        "events_per_second": round(args.events / best),
        "client_cpu_seconds": round(client_cpu[fastest], 3),
        "server_cpu_seconds": round(server_cpu[fastest], 3),
        "load_average": round(os.getloadavg()[0], 2),
        "client_peak_rss_mb": round(_peak_rss_mb(), 1),
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(
            f"send_event_list: {args.events:,} events in {best:.3f} s "
            f"({report['events_per_second']:,} events/s; runs {report['all_seconds']}), "
            f"{requests} requests, {args.compression}, batch {args.batch_size}, "
            f"{args.workers} worker(s); CPU: client {report['client_cpu_seconds']} s, "
            f"server {report['server_cpu_seconds']} s; client peak RSS "
            f"{report['client_peak_rss_mb']} MB; load average {report['load_average']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
