"""Search benchmark: generate a lake of N events of ~200 bytes, then time two searches.

    python bench/search_bench.py                       # 1M events, in a temporary directory
    python bench/search_bench.py --events 10000000 --data-dir /tmp/lake10m --keep
    python bench/search_bench.py --data-dir /tmp/lake10m --reuse   # search an existing lake again

The data set (deterministic, seed 7): events are written straight through the
storage layer (``parsers.hec.decode_events`` then ``PartitionWriter.append``,
fsync off), in HEC requests of ``--batch-size`` events (100), so each request
is one record batch of 100 events. Event ``i`` has time ``T0 + i * 10 ms``
(10M events span ~28 hours), a host out of 50, and a JSON object like

    {"severity":"INFO","user":{"name":"user042","id":5760},"action":"read",
     "status":200,"src_ip":"10.139.207.58","bytes":24361,"msg":"file read"}

with severity INFO 70%, WARN 20%, ERROR 10%. Each batch comes from one of five
connectors in turn (firewall, edr, proxy, auth, dns). Stored lines are ~200 bytes.

Measured (best of ``--repeat``, wall and CPU seconds of this one process):

(a) a count over a tag and a time window that holds 1% of the batches:
    ``#connector=edr | count()`` over the middle 1% of the time span;
(b) a full scan with a field filter and a groupBy:
    ``severity=ERROR | groupBy(host)``, reported as events in the lake per CPU second;
plus, for context, a free-text count (``failed | count()``), a rare-value count
(``user.name=user042 | count()``) and the default newest-200 event list.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from bench.report import emit
from lakehose.parsers.hec import IngestContext, decode_events
from lakehose.query import plan_query, time_range
from lakehose.search.engine import Search
from lakehose.storage.base import PendingAppend
from lakehose.storage.lake import open_readers
from lakehose.storage.sqlite.partition import PartitionWriter, create_partition

T0 = 1_700_000_000.0
STEP = 0.01  # seconds between events
CONNECTORS = ["firewall", "edr", "proxy", "auth", "dns"]
SEVERITY = ["INFO"] * 7 + ["WARN"] * 2 + ["ERROR"]
MESSAGES = ["user login ok", "failed login attempt", "file read", "permission denied"]
MARKER = "search-bench.json"


def generate(data_dir: Path, events: int, batch_size: int, seed: int = 7) -> None:
    """Write the data set described in the module docstring into a fresh partition 0."""
    data_dir.mkdir(parents=True, exist_ok=True)
    create_partition(data_dir, 0)
    writer = PartitionWriter(data_dir, 0, durability="none", zstd_level=1)
    rnd = random.Random(seed)
    users = [f"user{i:03d}" for i in range(200)]
    hosts = [f"web-{i:03d}" for i in range(50)]
    pending: list[PendingAppend] = []
    started = time.perf_counter()
    for b in range(events // batch_size):
        ctx = IngestContext(
            connector=CONNECTORS[b % len(CONNECTORS)],
            index="main",
            sourcetype="json",
            source="app",
            host=None,
            now_ns=time.time_ns(),
            allowed_index=lambda _: True,
        )
        body = b"\n".join(
            orjson.dumps(
                {
                    "time": round(T0 + (b * batch_size + i) * STEP, 3),
                    "host": rnd.choice(hosts),
                    "event": {
                        "severity": rnd.choice(SEVERITY),
                        "user": {"name": rnd.choice(users), "id": rnd.randrange(10000)},
                        "action": rnd.choice(["login", "logout", "read", "write"]),
                        "status": rnd.choice([200, 200, 200, 404, 500]),
                        "src_ip": f"10.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(256)}",
                        "bytes": rnd.randrange(100_000),
                        "msg": rnd.choice(MESSAGES),
                    },
                }
            )
            for i in range(batch_size)
        )
        normalised, rejection = decode_events(body, ctx)
        assert rejection is None, rejection
        pending.append(PendingAppend(normalised.slices))
        if len(pending) >= 500:
            writer.append(pending)
            pending = []
        if b and b % 10_000 == 0:
            done = b * batch_size
            rate = done / (time.perf_counter() - started)
            print(f"  generated {done:,} events ({rate:,.0f}/s)", file=sys.stderr)
    if pending:
        writer.append(pending)
    writer.close()
    (data_dir / MARKER).write_bytes(
        orjson.dumps({"events": events, "batch_size": batch_size, "seed": seed})
    )


def measure(
    data_dir: Path, query: str, start: float | None, end: float | None, repeat: int
) -> dict[str, Any]:
    """Best wall and CPU time of ``repeat`` runs, with the last run's rows and counters."""
    plan = plan_query(query)
    span = time_range(
        None if start is None else f"{start:.3f}", None if end is None else f"{end:.3f}"
    )
    best_wall = best_cpu = float("inf")
    rows: list[dict[str, Any]] = []
    stats: dict[str, Any] = {}
    for _ in range(repeat):
        readers = open_readers(data_dir)
        wall, cpu = time.perf_counter(), time.process_time()
        search = Search(plan, readers, span, limit=200)
        rows = list(search.rows())
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
        stats = search.stats.to_dict()
        for r in readers:
            r.close()
    return {
        "query": query,
        "wall_s": best_wall,
        "cpu_s": best_cpu,
        "rows": len(rows),
        "first_row": rows[0] if rows else None,
        **stats,
    }


def decompress_only(data_dir: Path, repeat: int) -> dict[str, Any]:
    """Calibration: CPU seconds to fetch and zstd-decompress every batch, nothing else.

    The machine's speed varies with its load; searches are best compared with this.
    """
    from lakehose.records import decompress_data

    best_wall = best_cpu = float("inf")
    for _ in range(repeat):
        (reader,) = open_readers(data_dir, 1)
        wall, cpu = time.perf_counter(), time.process_time()
        offsets = [row[1] for row in reader.summaries(time_range(), {}, descending=True)]
        for i in range(0, len(offsets), 64):
            for first, blob in reader.blobs(offsets[i : i + 64]).items():
                decompress_data(blob, 0, first)
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
        reader.close()
    return {"wall_s": best_wall, "cpu_s": best_cpu}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], epilog="See the module docstring for the data set."
    )
    parser.add_argument(
        "--events",
        type=int,
        default=1_000_000,
        help="events to generate (default 1,000,000; the target figures are for 10,000,000)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=100, help="events per record batch (default 100)"
    )
    parser.add_argument(
        "--data-dir", type=Path, help="where to write the lake (default: a temporary directory)"
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="search the lake already in --data-dir instead of generating one",
    )
    parser.add_argument("--keep", action="store_true", help="keep the generated lake")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per query; the best is reported (default 3)"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)

    temporary = args.data_dir is None
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="lakehose-search-bench-"))
    try:
        if args.reuse:
            info = orjson.loads((data_dir / MARKER).read_bytes())
            events, batch_size = int(info["events"]), int(info["batch_size"])
        else:
            if (data_dir / "partition-0.db").exists():
                parser.error(f"{data_dir} already holds a lake; use --reuse or another --data-dir")
            events, batch_size = args.events, args.batch_size
            print(
                f"generating {events:,} events in batches of {batch_size} into {data_dir}",
                file=sys.stderr,
            )
            started = time.perf_counter()
            generate(data_dir, events, batch_size)
            print(f"  done in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        span = events * STEP
        window_start = T0 + span * 0.495
        window_end = window_start + span * 0.01
        results: dict[str, Any] = {
            "events": events,
            "batch_size": batch_size,
            "decompress_only": decompress_only(data_dir, args.repeat),
            "a_tag_and_window_count": measure(
                data_dir, "#connector=edr | count()", window_start, window_end, args.repeat
            ),
            "b_filter_and_group_by": measure(
                data_dir, "severity=ERROR | groupBy(host)", None, None, args.repeat
            ),
            "free_text_count": measure(data_dir, "failed | count()", None, None, args.repeat),
            "rare_value_count": measure(
                data_dir, "user.name=user042 | count()", None, None, args.repeat
            ),
            "newest_200_events": measure(data_dir, "", None, None, args.repeat),
        }
        for key in (
            "decompress_only",
            "b_filter_and_group_by",
            "free_text_count",
            "rare_value_count",
        ):
            r = results[key]
            r["events_per_cpu_s"] = events / r["cpu_s"]
            r["events_per_wall_s"] = events / r["wall_s"]
        emit(results, args.json, report)
    finally:
        if temporary and not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
    return 0


def report(results: dict[str, Any]) -> None:
    print(f"lake: {results['events']:,} events in batches of {results['batch_size']}")
    d = results["decompress_only"]
    print(
        f"calibration: fetch + zstd decompression alone: {d['events_per_cpu_s'] / 1e6:.2f} M events/CPU-s "
        f"({d['cpu_s']:.2f} s CPU, {d['wall_s']:.2f} s wall)"
    )
    a = results["a_tag_and_window_count"]
    print(
        f"(a) {a['query']!r} over 1% of the time span: {a['wall_s'] * 1000:.1f} ms wall, "
        f"{a['cpu_s'] * 1000:.1f} ms CPU; batches counted from summaries {a['batches_from_summaries']}, "
        f"read {a['batches_read']}; result {a['first_row']}"
    )
    for key, label in (
        ("b_filter_and_group_by", "(b)"),
        ("free_text_count", "   "),
        ("rare_value_count", "   "),
    ):
        r = results[key]
        print(
            f"{label} {r['query']!r}: {r['wall_s']:.2f} s wall, {r['cpu_s']:.2f} s CPU -> "
            f"{r['events_per_cpu_s'] / 1e6:.2f} M events/CPU-s ({r['events_per_wall_s'] / 1e6:.2f} M/wall-s); "
            f"{r['events_matched']:,} matched"
        )
    n = results["newest_200_events"]
    print(
        f"    newest 200 events: {n['wall_s'] * 1000:.1f} ms wall, {n['batches_read']} batches read"
    )


if __name__ == "__main__":
    sys.exit(main())
