"""Watch a process tree through /proc: CPU time, resident memory and CPU pinning, per process.

Theory of operation
-------------------
A server (lakehose's supervisor and its workers, or any other HEC server) and a
load generator are each a *tree* of processes. ``TreeSampler`` runs a thread
that, every ``interval`` seconds, lists the tree (the root and every process
whose parent chain leads to it, from ``/proc/*/stat``) and reads each member's
CPU ticks (``utime + stime`` of all its threads), ``VmRSS`` and ``VmHWM``.
CPU use over a window is the difference of two ``mark()`` snapshots, so the
harness can measure exactly the timed part of a run; memory is the highest
value seen in any sample, per process and summed over the tree, plus the
kernel's own high-water mark. Nothing here needs psutil.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


@dataclass
class ProcInfo:
    """One reading of one process."""

    pid: int
    cpu_seconds: float
    rss_kb: int
    hwm_kb: int


KERNEL_THREADS_PARENT = 2  # kthreadd: the parent of every kernel thread (jbd2, kworker…)


@dataclass(frozen=True)
class Stat:
    """The CPU counters of one process from ``/proc/PID/stat``."""

    ppid: int
    cpu_seconds: float  # utime + stime, all its threads
    reaped_seconds: float  # cutime + cstime: the children it has waited for

    @property
    def kernel_thread(self) -> bool:
        return self.ppid == KERNEL_THREADS_PARENT


def read_stat(pid: int) -> Stat | None:
    """A process's CPU counters, or None if it is gone."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces: split after the last ')'.
    f = text[text.rindex(")") + 2 :].split()
    return Stat(
        int(f[1]),
        (int(f[11]) + int(f[12])) / TICKS_PER_SECOND,
        (int(f[13]) + int(f[14])) / TICKS_PER_SECOND,
    )


def all_stats() -> dict[int, Stat]:
    """Every process's CPU counters, now."""
    stats = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit() and (stat := read_stat(int(entry.name))) is not None:
            stats[int(entry.name)] = stat
    return stats


def read_status(pid: int) -> dict[str, str]:
    """The fields of ``/proc/PID/status`` (empty if the process is gone)."""
    try:
        lines = (PROC / str(pid) / "status").read_text().splitlines()
    except OSError:
        return {}
    return {k: v.strip() for k, _, v in (line.partition(":") for line in lines)}


def _kb(value: str | None) -> int:
    return int(value.split()[0]) if value else 0


def read_proc(pid: int) -> ProcInfo | None:
    stat = read_stat(pid)
    if stat is None:
        return None
    status = read_status(pid)
    return ProcInfo(pid, stat.cpu_seconds, _kb(status.get("VmRSS")), _kb(status.get("VmHWM")))


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent not idle since boot (all CPUs, kernel included)."""
    fields = (PROC / "stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, idle, iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / TICKS_PER_SECOND


def cpus_allowed(pid: int) -> str:
    """The CPUs a process may run on, as the kernel lists them (``0``, ``0-1``), or ``?``."""
    return read_status(pid).get("Cpus_allowed_list", "?")


def parse_cpus(text: str) -> set[int]:
    """``"0,2-3"`` -> ``{0, 2, 3}`` (taskset's list syntax)."""
    cpus: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        low, _, high = part.partition("-")
        cpus.update(range(int(low), int(high or low) + 1))
    if not cpus:
        raise ValueError(f"no CPUs in {text!r}")
    return cpus


def command_line(pid: int) -> str:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def tree(roots: list[int], stats: dict[int, Stat] | None = None) -> list[int]:
    """The roots and all their descendants alive now (or in ``stats``, a snapshot)."""
    stats = all_stats() if stats is None else stats
    children: dict[int, list[int]] = {}
    for pid, stat in stats.items():
        children.setdefault(stat.ppid, []).append(pid)
    found: list[int] = []
    todo = [pid for pid in roots if pid in stats]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


@dataclass(frozen=True)
class MachineSnapshot:
    """The whole machine's CPU counters at one moment: busy time, and every process's."""

    busy_seconds: float
    stats: dict[int, Stat]

    @classmethod
    def now(cls) -> MachineSnapshot:
        return cls(machine_busy_seconds(), all_stats())


def other_processes_seconds(start: MachineSnapshot, end: MachineSnapshot, ours: list[int]) -> float:
    """CPU seconds, between two snapshots, of user-space processes outside ``ours``' trees.

    A process's children that exited and were waited for in between count through
    its ``reaped_seconds`` (whole lifetimes, so this leans high); kernel threads
    and children nobody waited for are not counted.
    """
    excluded = set(tree(ours, start.stats)) | set(tree(ours, end.stats))
    used = 0.0
    for pid, now in end.stats.items():
        if pid in excluded or now.kernel_thread:
            continue
        before = start.stats.get(pid)
        delta = now.cpu_seconds + now.reaped_seconds
        if before is not None:
            delta -= before.cpu_seconds + before.reaped_seconds
        used += max(0.0, delta)
    return used


@dataclass
class ProcessUsage:
    """What one process of a tree used over a measured window."""

    pid: int
    role: str
    cpu_seconds: float = 0.0
    peak_rss_kb: int = 0
    hwm_kb: int = 0
    cpus: str = "?"


@dataclass
class TreeUsage:
    """What a whole tree used over a measured window."""

    seconds: float
    processes: list[ProcessUsage]
    peak_total_rss_kb: int
    first_total_rss_kb: int
    last_total_rss_kb: int
    rss_timeline_kb: list[tuple[float, int]] = field(default_factory=list)

    @property
    def cpu_seconds(self) -> float:
        return sum(p.cpu_seconds for p in self.processes)

    @property
    def cpu_percent(self) -> float:
        return 100.0 * self.cpu_seconds / self.seconds if self.seconds > 0 else 0.0


Snapshot = tuple[float, dict[int, float]]


class TreeSampler:
    """Samples a process tree in a background thread until ``stop()``."""

    def __init__(self, roots: list[int], interval: float = 0.25) -> None:
        self.roots = roots
        self.interval = interval
        self._lock = threading.Lock()
        self._cpu: dict[int, float] = {}
        self._peak_rss: dict[int, int] = {}
        self._hwm: dict[int, int] = {}
        self._cpus: dict[int, str] = {}
        self._timeline: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tree-sampler", daemon=True)

    def start(self) -> TreeSampler:
        self.sample()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        now = time.monotonic()
        readings = [info for pid in tree(self.roots) if (info := read_proc(pid)) is not None]
        with self._lock:
            for info in readings:
                self._cpu[info.pid] = info.cpu_seconds
                self._peak_rss[info.pid] = max(self._peak_rss.get(info.pid, 0), info.rss_kb)
                self._hwm[info.pid] = max(self._hwm.get(info.pid, 0), info.hwm_kb)
                if info.pid not in self._cpus:
                    self._cpus[info.pid] = cpus_allowed(info.pid)
            if readings:
                self._timeline.append((now, sum(info.rss_kb for info in readings)))

    def mark(self) -> Snapshot:
        """Take a fresh reading and return the CPU seconds of every process so far."""
        self.sample()
        with self._lock:
            return time.monotonic(), dict(self._cpu)

    def usage(self, start: Snapshot, end: Snapshot) -> TreeUsage:
        """CPU between two marks; memory peaks over the whole sampling (that includes warm-up)."""
        (t0, cpu0), (t1, cpu1) = start, end
        with self._lock:
            processes = [
                ProcessUsage(
                    pid,
                    role=self._role(pid),
                    cpu_seconds=cpu1[pid] - cpu0.get(pid, 0.0),
                    peak_rss_kb=self._peak_rss.get(pid, 0),
                    hwm_kb=self._hwm.get(pid, 0),
                    cpus=self._cpus.get(pid, "?"),
                )
                for pid in sorted(cpu1)
            ]
            window = [(t, kb) for t, kb in self._timeline if t0 <= t <= t1] or self._timeline[-1:]
            peak = max((kb for _, kb in self._timeline), default=0)
        return TreeUsage(
            seconds=t1 - t0,
            processes=processes,
            peak_total_rss_kb=peak,
            first_total_rss_kb=window[0][1] if window else 0,
            last_total_rss_kb=window[-1][1] if window else 0,
            rss_timeline_kb=[(round(t - t0, 2), kb) for t, kb in window],
        )

    def _role(self, pid: int) -> str:
        if pid in self.roots:
            return "main"
        cmd = command_line(pid)
        if "resource_tracker" in cmd:
            return "resource-tracker"
        if "spawn_main" in cmd:
            return "worker"
        return cmd.split(" ", 1)[0].rsplit("/", 1)[-1] or "process"
