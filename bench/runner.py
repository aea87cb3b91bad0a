"""Run one ingest scenario against a target and turn counts and /proc readings into a result.

Theory of operation
-------------------
The server's process tree is sampled from before the first request to after the
last (memory peaks therefore include warm-up); CPU is the difference between
two marks taken at the edges of the timed window only. With wrk, warm-up is a
separate short wrk run and the window is the timed wrk process's life, whose CPU
comes from the kernel's accounting of reaped children; with the Python
generator, every generator process counts only replies inside one shared
wall-clock window, and their tree is sampled like the server's. A generator
that saturates its CPUs (and not the server) is called out, and so is CPU that
the rest of the machine used meanwhile (other processes, and kernel work no
process is charged for).
Events are counted only for replies that were ``200`` with ``"code":0``. For a
lakehose the harness started, the log's end offset must have grown by at least
the events of every such reply, warm-up included (a request cut off at the end
may be stored without being counted, never the other way round), or the run
reports lost events.
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.load import LoadResult, LoadSpec
from bench.payloads import Payload, build
from bench.procstat import (
    MachineSnapshot,
    Snapshot,
    TreeSampler,
    TreeUsage,
    other_processes_seconds,
)
from bench.python_load import PythonLoad
from bench.target import Target
from bench.wrk_load import WrkLoad, wrk_path

SATURATED_PERCENT = 85.0  # a generator this busy per core may be what limits the run
RSS_TARGET_MB = 300  # lakehose's target: peak resident memory per worker under any load
OTHER_LOAD_PERCENT = 10.0  # other processes' CPU beyond this makes a run suspect
LONG_RUN_SECONDS = 60  # from this long on, a run reports how server memory moved
MB = 1_000_000


@dataclass(frozen=True)
class LoadOptions:
    """How to generate load (the same for every scenario of a run)."""

    seconds: int
    warmup: int
    connections: int
    generator: str  # auto | wrk | python
    threads: int | None
    processes: int | None
    client_cpus: set[int] | None
    events: int
    event_size: int

    @property
    def generator_cpus(self) -> int:
        return len(self.client_cpus) if self.client_cpus else os.cpu_count() or 1

    def chosen_generator(self) -> str:
        if self.generator == "auto":
            return "wrk" if wrk_path() else "python"
        if self.generator == "wrk" and not wrk_path():
            raise SystemExit(
                "wrk is not installed (apt-get install wrk), or use --generator python"
            )
        return self.generator


@dataclass(frozen=True)
class Machine:
    """The machine's CPU counters and this harness's own CPU time at one moment."""

    snapshot: MachineSnapshot
    harness_seconds: float


@dataclass
class Window:
    """A timed window's readings: the generator's counts and every CPU mark at its edges."""

    load: LoadResult
    generator_cpu_seconds: float
    server_start: Snapshot | None
    server_end: Snapshot | None
    machine_start: Machine
    machine_end: Machine

    def server_usage(self, server: TreeSampler | None) -> TreeUsage | None:
        if server is None or self.server_start is None or self.server_end is None:
            return None
        return server.usage(self.server_start, self.server_end)

    def bystanders(self, server: TreeUsage | None, server_pid: int | None) -> tuple[float, float]:
        """CPU seconds the rest of the machine used: ``(other processes, kernel)``.

        Both add up to the machine's busy time minus the server, the generator and
        this harness. The kernel's share is its threads (jbd2, kworkers) and busy time
        charged to no process (interrupts, part of loopback networking).
        """
        start, end = self.machine_start, self.machine_end
        ours = [os.getpid()] + ([server_pid] if server_pid else [])
        harness = end.harness_seconds - start.harness_seconds
        busy = end.snapshot.busy_seconds - start.snapshot.busy_seconds
        server_seconds = server.cpu_seconds if server else 0.0
        rest = max(0.0, busy - self.generator_cpu_seconds - harness - server_seconds)
        # Reaped children count whole lifetimes, which may reach back before the window.
        others = min(rest, other_processes_seconds(start.snapshot, end.snapshot, ours))
        return others, rest - others


def _machine() -> Machine:
    return Machine(MachineSnapshot.now(), time.process_time())


def _drive_wrk(spec: LoadSpec, opts: LoadOptions, server: TreeSampler | None) -> Window:
    threads = opts.threads or opts.generator_cpus
    warm_acked = 0
    if opts.warmup > 0:
        warm_acked = WrkLoad(spec, threads=threads, seconds=opts.warmup).wait().ok
    server_start, machine_start = server.mark() if server else None, _machine()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = WrkLoad(spec, threads=threads, seconds=opts.seconds).wait()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk's own CPU, exactly: its lifetime
    server_end, machine_end = server.mark() if server else None, _machine()
    result.acked_with_warmup += warm_acked
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return Window(result, cpu, server_start, server_end, machine_start, machine_end)


def _drive_python(spec: LoadSpec, opts: LoadOptions, server: TreeSampler | None) -> Window:
    processes = opts.processes or opts.generator_cpus
    load = PythonLoad(spec, processes=processes, seconds=opts.seconds, warmup=opts.warmup)
    generator = TreeSampler(load.pids).start()
    time.sleep(max(0.0, load.measure_from - time.monotonic()))
    server_start, machine_start = server.mark() if server else None, _machine()
    generator_start = generator.mark()
    time.sleep(max(0.0, load.measure_from + opts.seconds - time.monotonic()))
    server_end, machine_end = server.mark() if server else None, _machine()
    generator_end = generator.mark()
    result = load.wait()
    generator.stop()
    cpu = generator.usage(generator_start, generator_end).cpu_seconds
    return Window(result, cpu, server_start, server_end, machine_start, machine_end)


def run_ingest(scenario: str, target: Target, opts: LoadOptions) -> dict[str, Any]:
    """Post ``scenario``'s canned request to ``target`` for ``opts.seconds``; the result."""
    payload = build(scenario, events=opts.events, event_size=opts.event_size)
    stored_before = target.stored_events()
    server = TreeSampler([target.pid]).start() if target.pid else None
    try:
        with tempfile.TemporaryDirectory(prefix="lakehose-bench-body-") as tmp:
            body_file = Path(tmp) / "body"
            body_file.write_bytes(payload.body)
            spec = LoadSpec(
                target.url, target.token, payload, body_file, opts.connections, opts.client_cpus
            )
            drive = _drive_wrk if opts.chosen_generator() == "wrk" else _drive_python
            window = drive(spec, opts, server)
    finally:
        if server:
            server.stop()
    stored_after = target.stored_events()
    stored = None if stored_before is None or stored_after is None else stored_after - stored_before
    return summarise(scenario, payload, target, opts, window, window.server_usage(server), stored)


def _server_summary(usage: TreeUsage | None, events: int) -> dict[str, Any] | None:
    if usage is None:
        return None
    workers = [p for p in usage.processes if p.role == "worker"] or [
        p for p in usage.processes if p.role == "main"
    ]
    cores = usage.cpu_seconds / usage.seconds if usage.seconds else 0.0
    return {
        "cpu_percent": round(usage.cpu_percent, 1),
        "events_per_cpu_second": round(events / usage.cpu_seconds) if usage.cpu_seconds else None,
        "cores_busy": round(cores, 2),
        "peak_rss_mb_per_worker": round(max((p.peak_rss_kb for p in workers), default=0) / 1024, 1),
        "peak_rss_mb_total": round(usage.peak_total_rss_kb / 1024, 1),
        "rss_mb_window_start": round(usage.first_total_rss_kb / 1024, 1),
        "rss_mb_window_end": round(usage.last_total_rss_kb / 1024, 1),
        "processes": [
            {
                "pid": p.pid,
                "role": p.role,
                "cpus": p.cpus,
                "cpu_percent": round(100 * p.cpu_seconds / usage.seconds, 1)
                if usage.seconds
                else 0,
                "peak_rss_mb": round(p.peak_rss_kb / 1024, 1),
                "vm_hwm_mb": round(p.hwm_kb / 1024, 1),
            }
            for p in usage.processes
        ],
        "rss_mb_timeline": [(t, round(kb / 1024, 1)) for t, kb in usage.rss_timeline_kb[::4]],
    }


def summarise(
    scenario: str,
    payload: Payload,
    target: Target,
    opts: LoadOptions,
    window: Window,
    server_usage: TreeUsage | None,
    stored: int | None,
) -> dict[str, Any]:
    load = window.load
    seconds = load.seconds or 1.0
    events = load.ok * payload.events
    generator_cores = min(opts.generator_cpus, load.parallel)
    generator_percent = 100 * window.generator_cpu_seconds / seconds / generator_cores
    others, kernel = window.bystanders(server_usage, target.pid)
    other_percent, kernel_percent = 100 * others / seconds, 100 * kernel / seconds
    notes = []
    if generator_percent >= SATURATED_PERCENT:
        notes.append(
            f"generator at {generator_percent:.0f}% of its {generator_cores} core(s): "
            "it may be the bottleneck, not the server"
        )
    acked_events = load.acked_with_warmup * payload.events
    if stored is not None and stored < acked_events:
        notes.append(f"LOST EVENTS: {acked_events} acknowledged but the log grew by only {stored}")
    if target.settings.get("data_filesystem") == "tmpfs":
        notes.append("the data directory is on tmpfs: fsync costs nothing there")
    server = _server_summary(server_usage, events)
    if server and server["peak_rss_mb_per_worker"] > RSS_TARGET_MB:
        notes.append(
            f"peak RSS per worker {server['peak_rss_mb_per_worker']} MB is over {RSS_TARGET_MB} MB"
        )
    if server and seconds >= LONG_RUN_SECONDS:
        notes.append(
            f"server RSS over the timed window: {server['rss_mb_window_start']} MB at the start, "
            f"{server['rss_mb_window_end']} MB at the end, {server['peak_rss_mb_total']} MB peak"
        )
    if other_percent >= OTHER_LOAD_PERCENT:
        notes.append(
            f"other processes used {other_percent:.0f}% CPU meanwhile: "
            "the numbers may be low; run again on a quiet machine"
        )
    if load.errors:
        notes.append(
            f"{load.errors} errors: statuses {load.statuses}, sockets {load.socket_errors}"
        )
    return {
        "scenario": scenario,
        "server": target.name,
        "url": target.url + payload.path,
        "server_settings": target.settings,
        "generator": load.generator,
        "generator_detail": load.detail,
        "connections": opts.connections,
        "client_cpus": sorted(opts.client_cpus) if opts.client_cpus else None,
        "seconds": round(seconds, 2),
        "request_bytes": len(payload.body),
        "request_bytes_uncompressed": payload.raw_bytes,
        "events_per_request": payload.events,
        "requests": load.requests,
        "ok_requests": load.ok,
        "events": events,
        "events_per_s": round(events / seconds),
        "mb_per_s": round(load.ok * payload.raw_bytes / seconds / MB, 2),
        "wire_mb_per_s": round(load.ok * len(payload.body) / seconds / MB, 2),
        "requests_per_s": round(load.requests / seconds),
        "latency_ms": load.latency_ms,
        "errors": load.errors,
        "statuses": {str(k): v for k, v in sorted(load.statuses.items())},
        "bad_bodies": load.bad_bodies,
        "socket_errors": load.socket_errors,
        "acked_events_with_warmup": acked_events,
        "stored_events": stored,
        "lost_events": None if stored is None else max(0, acked_events - stored),
        "server_usage": server,
        "generator_cpu_percent_per_core": round(generator_percent, 1),
        "generator_saturated": generator_percent >= SATURATED_PERCENT,
        "other_cpu_percent": round(other_percent, 1),
        "kernel_cpu_percent": round(kernel_percent, 1),
        "notes": notes,
    }
