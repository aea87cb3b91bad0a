"""Columnar tier benchmark: compaction rate, storage per event, and the issue's queries on the
row engine, on both tiers (lakehose's DuckDB translation) and on DuckDB over the same Parquet
files with hand-written SQL (the baseline), all on one core.

    python bench/columnar_bench.py                          # 2M events (seed 7), temporary dir
    python bench/columnar_bench.py --events 10000000 --data-dir /tmp/lake10m --keep
    python bench/columnar_bench.py --data-dir /tmp/lake10m --reuse
    python bench/columnar_bench.py --data-dir /tmp/lake10m --reuse --keep-tier  # queries only

The data set is ``search_bench.py``'s (seed 7, ~200-byte JSON events in batches of 100).
Everything is compacted (``lakehose compact``'s work, in this process), then each query runs
``--repeat`` times and the best CPU time counts (``time.process_time``: this process, DuckDB
on one thread included); rates are events in the lake per CPU-second. "ratio" is the
columnar engine's rate over the hand-written baseline's (the issue aims at >= 0.5).

Ingest, for the compaction-vs-ingest comparison: the CPU this process spends turning the
HEC bodies into stored record batches (``decode_events`` + ``PartitionWriter.append``,
fsync off) — the server's per-event work without HTTP. The harness measures HTTP ingest
with the compactor on and off: ``python -m bench batch --server-arg=--columnar-after=0``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import orjson

from bench.report import emit
from bench.search_bench import MARKER, STEP, T0, generate
from lakehose.query import plan_query, time_range
from lakehose.search.run import run_search
from lakehose.storage.columnar.compactor import Compactor, tier_dir
from lakehose.storage.columnar.manifest import Manifest
from lakehose.storage.lake import open_columnar, open_readers, tier_sizes

QUERIES = [
    (
        "filter_group_by",
        "severity=ERROR | groupBy(host)",
        'SELECT "host:s", count(*) FROM read_parquet(?) WHERE "severity:s" = \'ERROR\' GROUP BY 1',
    ),
    (
        "rare_value_count",
        "user.name=user042 | count()",
        "SELECT count(*) FROM read_parquet(?) WHERE \"user.name:s\" = 'user042'",
    ),
    (
        "free_text_count",
        "failed | count()",
        # the one text column holding the word, lower-cased (files of the template path keep
        # no raw text: lakehose reads the columns whose tokens hold the word)
        "SELECT count(*) FROM read_parquet(?) WHERE lower(\"msg:s\") LIKE '%failed%'",
    ),
]


def best(repeat: int, fn: Any) -> tuple[float, float, Any]:
    """Best CPU and wall seconds of ``repeat`` calls, and the last result."""
    cpu_best = wall_best = float("inf")
    result = None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        cpu_best = min(cpu_best, time.process_time() - cpu)
        wall_best = min(wall_best, time.perf_counter() - wall)
    return cpu_best, wall_best, result


def engine(data_dir: Path, query: str, span: Any, columnar: bool) -> Any:
    rows, search = run_search(
        lambda: open_readers(data_dir),
        plan_query(query),
        span,
        limit=200,
        columnar=(lambda: open_columnar(data_dir)) if columnar else None,
    )
    return rows, search.stats.columnar_files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--reuse", action="store_true", help="use the lake in --data-dir")
    parser.add_argument("--keep", action="store_true", help="keep the generated lake")
    parser.add_argument(
        "--keep-tier",
        action="store_true",
        help="with --reuse: keep the lake's columnar files (queries only, no compaction)",
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    temporary = args.data_dir is None
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="lakehose-columnar-bench-"))
    out: dict[str, Any] = {}
    try:
        if args.reuse:
            events = int(orjson.loads((data_dir / MARKER).read_bytes())["events"])
        else:
            events = args.events
            print(f"generating {events:,} events into {data_dir}", file=sys.stderr)
            cpu = time.process_time()
            generate(data_dir, events, 100)
            out["ingest_events_per_cpu_s"] = events / (time.process_time() - cpu)
        out["events"] = events
        if not (args.reuse and args.keep_tier):
            shutil.rmtree(tier_dir(data_dir), ignore_errors=True)
            print("compacting", file=sys.stderr)
            cpu, wall = time.process_time(), time.perf_counter()
            done = Compactor(data_dir, 1, 0).run_once()
            out["compaction"] = {
                "events": done.events,
                "files": done.files,
                "cpu_s": time.process_time() - cpu,
                "wall_s": time.perf_counter() - wall,
                "events_per_cpu_s": done.events / (time.process_time() - cpu),
                "templated_files": done.templated,
                "split_files": done.split,
            }
        out["tiers"] = tier_sizes(data_dir, 1)
        manifest = Manifest(tier_dir(data_dir) / "manifest.db")
        files = [str(tier_dir(data_dir) / f.name) for f in manifest.files()]
        manifest.close()
        duck = duckdb.connect()
        duck.execute("SET threads = 1")
        results = {}
        for key, query, sql in QUERIES:
            row_cpu, _, row_rows = best(
                args.repeat, lambda q=query: engine(data_dir, q, time_range(), False)
            )
            col_cpu, _, (col_rows, used) = best(
                args.repeat, lambda q=query: engine(data_dir, q, time_range(), True)
            )
            base_cpu, _, base = best(args.repeat, lambda s=sql: duck.execute(s, [files]).fetchall())
            assert col_rows == row_rows[0], (query, col_rows, row_rows[0])
            results[key] = {
                "query": query,
                "row_engine": events / row_cpu,
                "columnar": events / col_cpu,
                "duckdb_parquet": events / base_cpu,
                "ratio": base_cpu / col_cpu,
                "columnar_files": used,
                "result": col_rows[:3],
                "baseline_result": sorted(base, key=lambda r: -r[-1])[:3],
            }
        span = events * STEP
        start = T0 + span * 0.495
        window = time_range(f"{start:.3f}", f"{start + span * 0.01:.3f}")
        for key, query, span_ in (
            ("tag_window_count", "#connector=edr | count()", window),
            ("newest_200", "", time_range()),
        ):
            row_cpu, row_wall, _ = best(
                args.repeat, lambda q=query, s=span_: engine(data_dir, q, s, False)
            )
            col_cpu, col_wall, _ = best(
                args.repeat, lambda q=query, s=span_: engine(data_dir, q, s, True)
            )
            results[key] = {
                "query": query,
                "row_ms_cpu": row_cpu * 1000,
                "columnar_ms_cpu": col_cpu * 1000,
                "row_ms_wall": row_wall * 1000,
                "columnar_ms_wall": col_wall * 1000,
            }
        out["queries"] = results
        emit(out, args.json, report)
    finally:
        if temporary and not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
    return 0


def report(out: dict[str, Any]) -> None:
    c = out.get("compaction")
    print(f"lake: {out['events']:,} events")
    if "ingest_events_per_cpu_s" in out:
        print(
            f"ingest (decode + store, no HTTP): {out['ingest_events_per_cpu_s'] / 1e3:,.0f} k events/CPU-s"
        )
    if c is None:
        print("compaction: none (--keep-tier: the columnar files of an earlier run)")
    else:
        print(
            f"compaction: {c['events']:,} events into {c['files']} files in {c['cpu_s']:.1f} "
            f"CPU-s -> {c['events_per_cpu_s'] / 1e3:,.0f} k events/CPU-s"
            f" ({c['templated_files']} files by the template path,"
            f" {c['split_files']} of them split in Arrow)"
        )
    for t in out["tiers"]:
        print(
            f"  {t['tier']:9} {t['events']:>12,} events {t['bytes']:>14,} bytes {t['bytes_per_event']:>6} B/event"
        )
    print(
        f"{'query':36} {'row engine':>12} {'columnar':>12} {'DuckDB':>12} {'ratio':>6}  (M events/CPU-s)"
    )
    for key in ("filter_group_by", "rare_value_count", "free_text_count"):
        r = out["queries"][key]
        print(
            f"{r['query']:36} {r['row_engine'] / 1e6:12.2f} {r['columnar'] / 1e6:12.2f} "
            f"{r['duckdb_parquet'] / 1e6:12.2f} {r['ratio']:6.2f}"
        )
    for key in ("tag_window_count", "newest_200"):
        r = out["queries"][key]
        print(
            f"{r['query'] or '(newest 200 events)':36} row {r['row_ms_cpu']:.1f} ms CPU, "
            f"with the columnar tier {r['columnar_ms_cpu']:.1f} ms CPU"
        )


if __name__ == "__main__":
    sys.exit(main())
