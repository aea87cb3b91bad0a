"""``python -m bench``: parse the command line, run the scenarios, print the results."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from bench.companions import SCRIPTS, run_companion
from bench.payloads import EVENT_SIZE, EVENTS_PER_BATCH, INGEST_SCENARIOS
from bench.procstat import cpus_allowed, parse_cpus
from bench.report import header, machine, save, table
from bench.runner import LoadOptions, run_ingest
from bench.target import Target, autogroup_nice, local_lakehose, local_peer

DESCRIPTION = """\
Measure HEC ingest: events/s, MB/s, requests/s, latency, errors, server CPU and memory.
Without --url, each scenario gets a fresh lakehose (temporary data directory, fsync on).
With --url and --token, load goes to any HEC server (e.g. Fluent Bit, Vector, Splunk);
give --server-pid to measure its CPU and memory too.
Scenarios replay, live-latency and search run bench/streams_bench.py and
bench/search_bench.py with the remaining arguments."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "scenario",
        choices=[*INGEST_SCENARIOS, "all", *SCRIPTS],
        help="what to measure; all = every ingest scenario in turn",
    )
    load = p.add_argument_group("load")
    load.add_argument("-d", "--duration", type=int, default=15, help="timed seconds per scenario")
    load.add_argument("--warmup", type=int, default=2, help="untimed seconds of load first")
    load.add_argument("-c", "--connections", type=int, default=32, help="keep-alive connections")
    load.add_argument(
        "--generator",
        choices=["auto", "wrk", "python"],
        default="auto",
        help="auto: wrk if installed, else the multi-process Python generator",
    )
    load.add_argument("--threads", type=int, help="wrk threads (default: one per client CPU)")
    load.add_argument(
        "--processes", type=int, help="Python generator processes (default: one per client CPU)"
    )
    load.add_argument(
        "--client-cpus", type=parse_cpus, help="pin the generator to these CPUs (taskset list)"
    )
    load.add_argument(
        "--events", type=int, default=EVENTS_PER_BATCH, help="events per batch or raw request"
    )
    load.add_argument("--event-size", type=int, default=EVENT_SIZE, help="bytes per event line")
    own = p.add_argument_group("the lakehose the harness starts (without --url)")
    own.add_argument(
        "--server-cpus", type=parse_cpus, help="pin the server to these CPUs (taskset list)"
    )
    own.add_argument(
        "--workers", type=int, help="worker processes (default: one per server CPU, else per core)"
    )
    own.add_argument("--durability", choices=["fsync", "none"], default="fsync")
    own.add_argument("--no-access-log", action="store_true", help="serve with --no-access-log")
    own.add_argument(
        "--data-parent", type=Path, help="where temporary data directories go (default: $TMPDIR)"
    )
    own.add_argument(
        "--server-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra argument for lakehose serve (repeatable), e.g. --server-arg=--commit-delay=2ms",
    )
    other = p.add_argument_group("another HEC server")
    other.add_argument("--url", help="its base URL, e.g. http://127.0.0.1:8088")
    other.add_argument("--token", help="its HEC token (or set BENCH_TOKEN)")
    other.add_argument("--server-pid", type=int, help="its process id, to measure CPU and memory")
    other.add_argument("--server-name", default="external", help="its name in the output")
    load.add_argument(
        "--nice",
        type=int,
        help="run the harness, the generator and the lakehose it starts at this nice value "
        "(e.g. -10, as root) to shield a run from other load on a shared machine",
    )
    load.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run each scenario N times; report the one the rest of the machine disturbed least",
    )
    p.add_argument(
        "--no-peer",
        action="store_true",
        help="skip the physical-limit peer run that follows a local lakehose's single scenario",
    )
    out = p.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="print JSON instead of a table")
    out.add_argument("--save", action="store_true", help="also write the results to bench/results/")
    return p


@contextmanager
def target_for(args: argparse.Namespace) -> Iterator[Target]:
    if args.url:
        token = args.token or os.environ.get("BENCH_TOKEN")
        if not token:
            raise SystemExit("bench: --url needs --token (or BENCH_TOKEN)")
        settings: dict[str, object] = {}
        if args.server_pid:
            settings["cpus"] = cpus_allowed(args.server_pid)
        base = args.url.split("/services/collector")[0].rstrip("/")
        yield Target(base, token, args.server_pid, args.server_name, settings)
        return
    workers = args.workers or (len(args.server_cpus) if args.server_cpus else os.cpu_count() or 1)
    with local_lakehose(
        workers=workers,
        cpus=args.server_cpus,
        durability=args.durability,
        access_log=not args.no_access_log,
        parent_dir=args.data_parent,
        extra_args=args.server_arg,
    ) as target:
        if args.nice is not None and target.pid is not None:
            autogroup_nice(target.pid, args.nice)
        yield target


def with_peer(scenario: str, best: dict[str, Any], args: argparse.Namespace, opts: Any) -> None:
    """Run ``scenario`` against ``bench.peer`` with the same load and pinning, and note
    lakehose's rate as a share of the peer's (wall clock and per server CPU-second)."""
    tries = []
    for _ in range(args.repeat):
        with local_peer("httptools", args.server_cpus) as peer:
            if args.nice is not None and peer.pid is not None:
                autogroup_nice(peer.pid, args.nice)
            tries.append(run_ingest(scenario, peer, opts))
    limit = quietest(tries)

    def per_cpu(r: dict[str, Any]) -> float | None:
        usage = r.get("server_usage") or {}
        value = usage.get("events_per_cpu_second")
        return float(value) if value else None

    mine, theirs = per_cpu(best), per_cpu(limit)
    ratio = best["requests_per_s"] / limit["requests_per_s"] if limit["requests_per_s"] else 0.0
    cpu_ratio = mine / theirs if mine and theirs else None
    best["peer"] = {
        "requests_per_s": limit["requests_per_s"],
        "latency_ms": limit["latency_ms"],
        "requests_per_cpu_second": theirs,
        "ratio": round(ratio, 3),
        "ratio_per_cpu_second": None if cpu_ratio is None else round(cpu_ratio, 3),
        "other_cpu_percent": limit["other_cpu_percent"],
    }
    per = (
        ""
        if cpu_ratio is None
        else f"; per server CPU-second {mine:,.0f} / {theirs:,.0f} = {cpu_ratio:.2f}x"
    )
    best["notes"].append(
        f"physical-limit peer (bench.peer httptools, same load and CPUs): "
        f"{limit['requests_per_s']:,} req/s, p99 {limit['latency_ms'].get('p99')} ms; lakehose does "
        f"{best['requests_per_s']:,} / {limit['requests_per_s']:,} = {ratio:.2f}x of it{per}"
    )


def quietest(tries: list[dict[str, Any]]) -> dict[str, Any]:
    """The run the rest of the machine disturbed least (not the fastest), the others attached."""
    best = min(tries, key=lambda r: r["other_cpu_percent"])
    if len(tries) > 1:
        others = ", ".join(f"{r['events_per_s']:,} ({r['other_cpu_percent']}%)" for r in tries)
        best["notes"].append(
            f"quietest of {len(tries)} runs; events/s (other CPU%) of each: {others}"
        )
        best["repeats"] = [{k: v for k, v in r.items() if k != "repeats"} for r in tries]
    return best


def shown_command(argv: list[str]) -> str:
    """The command line as run, with any token masked."""
    shown = ["KEY" if i and argv[i - 1] == "--token" else a for i, a in enumerate(argv)]
    shown = [("--token=KEY" if a.startswith("--token=") else a) for a in shown]
    return shlex.join(["python", "-m", "bench", *shown])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in SCRIPTS:
        return run_companion(argv[0], argv[1:])
    args = parser().parse_args(argv)
    opts = LoadOptions(
        seconds=args.duration,
        warmup=args.warmup,
        connections=args.connections,
        generator=args.generator,
        threads=args.threads,
        processes=args.processes,
        client_cpus=args.client_cpus,
        events=args.events,
        event_size=args.event_size,
    )
    if opts.client_cpus:  # the harness's own threads (samplers) stay off the server's CPUs
        os.sched_setaffinity(0, opts.client_cpus)
    own_group: int | None = None
    if args.nice is not None:  # inherited by every thread and process started from now on
        os.setpriority(os.PRIO_PROCESS, 0, args.nice)
        # ... but counted only within this session's autogroup: the group's nice too
        own_group = autogroup_nice(os.getpid(), args.nice)
    try:
        return _run(args, argv, opts)
    finally:
        if own_group is not None:
            autogroup_nice(os.getpid(), own_group)


def _run(args: argparse.Namespace, argv: list[str], opts: LoadOptions) -> int:
    generator = opts.chosen_generator()
    if args.generator == "auto" and generator == "python":
        print("bench: wrk not found; using the Python generator", file=sys.stderr)
    scenarios = INGEST_SCENARIOS if args.scenario == "all" else (args.scenario,)
    results = []
    for scenario in scenarios:
        tries = []
        for attempt in range(1, args.repeat + 1):
            with target_for(args) as target:
                print(
                    f"bench: {scenario} ({attempt}/{args.repeat}): {opts.seconds} s, {generator}, "
                    f"{opts.connections} connections -> {target.name} at {target.url}",
                    file=sys.stderr,
                    flush=True,
                )
                tries.append(run_ingest(scenario, target, opts))
        best = quietest(tries)
        if scenario == "single" and not args.url and not args.no_peer:
            with_peer(scenario, best, args, opts)
        results.append(best)
    info = machine()
    document = {"machine": info, "command": shown_command(argv), "nice": args.nice, "runs": results}
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        print(header(results, info))
        print(table(results))
    if args.save:
        print(f"bench: saved {save(document)}", file=sys.stderr)
    return 1 if any(r["errors"] or r["lost_events"] for r in results) else 0
