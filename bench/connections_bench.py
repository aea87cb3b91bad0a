"""Many connections to one worker: memory per idle keep-alive connection, and latency of slow senders.

Two scenarios against a fresh ``lakehose serve`` (one worker, fsync on, loopback):

- ``idle``: open ``--idle`` keep-alive connections (10,000 by default), each sends one
  single-event HEC request and then stays open and silent. The worker's RSS before and
  after gives the bytes per idle connection; then every connection sends a second
  request, and all must be answered ``200 code 0``.
- ``steady``: ``--steady`` connections (1,000) each send one event a second, spread evenly
  over the second, for ``--seconds``; latency of each request from send to the complete
  answer (p50, p99, max), errors, and the server's CPU seconds per 1,000 requests.

    python -m bench.connections_bench --server-cpus 0 --client-cpus 1

The client is Python (uvloop, raw HTTP/1.1 on ``asyncio.Protocol``); the file-descriptor
limit of this process (and so of the server it starts) is raised to the hard limit.
Loopback only; bounded in time and count.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.procstat import parse_cpus, read_proc, tree
from bench.target import affinity, autogroup_nice

BODY = b'{"event":{"action":"drop","src":"10.1.225.179","dst":"192.168.14.105","dport":80}}'


def _request(key: str) -> bytes:
    return (
        b"POST /services/collector/event HTTP/1.1\r\nHost: bench\r\n"
        + f"Authorization: Splunk {key}\r\n".encode()
        + f"Content-Length: {len(BODY)}\r\n\r\n".encode()
        + BODY
    )


class Client(asyncio.Protocol):
    """One keep-alive connection, one request in flight, answers matched to sends."""

    def __init__(self) -> None:
        self.transport: Any = None
        self.buf = b""
        self.waiter: asyncio.Future[bytes] | None = None
        self.lost = False

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("closed"))

    def data_received(self, data: bytes) -> None:
        self.buf += data
        head, sep, rest = self.buf.partition(b"\r\n\r\n")
        if not sep:
            return
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        if len(rest) < length:
            return
        self.buf = rest[length:]
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(head.split(b" ", 2)[1] + b" " + rest[:length])

    async def ask(self, request: bytes) -> bytes:
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self.waiter


def _ok(answer: bytes) -> bool:
    return answer.startswith(b"200 ") and b'"code":0' in answer


def _rss_kb(root: int) -> int:
    return sum(info.rss_kb for pid in tree([root]) if (info := read_proc(pid)) is not None)


def _worker_rss_kb(root: int) -> int:
    """The largest resident set of one process under the supervisor ``root`` (a worker);
    ``root``'s own when it has no children (one worker serves in the supervisor's process)."""
    pids = [pid for pid in tree([root]) if pid != root] or [root]
    return max((info.rss_kb for pid in pids if (info := read_proc(pid))), default=0)


def _run_queue_wait(root: int) -> float:
    """Seconds the server's threads spent runnable but waiting for a CPU (``schedstat``):
    on a shared core, the part of a stall that is the other processes'."""
    total = 0
    for pid in tree([root]):
        for task in Path(f"/proc/{pid}/task").glob("*/schedstat"):
            try:
                total += int(task.read_text().split()[1])
            except (OSError, IndexError, ValueError):
                continue
    return total / 1e9


def _thread_cpu(root: int) -> dict[str, float]:
    """CPU seconds of each thread of the server (``main`` is each process's first thread)."""
    out: dict[str, float] = {}
    for pid in tree([root]):
        for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            tid = int(stat.parent.name)
            name = "main" if tid == pid else str(tid)
            out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / 100
    return out


def _cpu(root: int) -> float:
    return sum(info.cpu_seconds for pid in tree([root]) if (info := read_proc(pid)) is not None)


async def _connect(port: int, n: int, batch: int = 500) -> list[Client]:
    loop = asyncio.get_running_loop()
    out: list[Client] = []
    for start in range(0, n, batch):
        made = await asyncio.gather(
            *(
                loop.create_connection(Client, "127.0.0.1", port)
                for _ in range(min(batch, n - start))
            )
        )
        out.extend(proto for _, proto in made)
    return out


async def idle(
    port: int, key: str, root: int, n: int, hold: float, silent: bool = False
) -> dict[str, Any]:
    request = _request(key)
    warm = await _connect(port, 10)
    await asyncio.gather(*(c.ask(request) for c in warm))
    await asyncio.sleep(1.0)
    before = _rss_kb(root)
    worker_before = _worker_rss_kb(root)
    t0 = time.perf_counter()
    clients = await _connect(port, n)
    answers: list[bytes] = []
    for start in range(0, 0 if silent else n, 1000):
        answers += await asyncio.gather(*(c.ask(request) for c in clients[start : start + 1000]))
    opened = time.perf_counter() - t0
    await asyncio.sleep(hold)
    after = _rss_kb(root)
    worker_after = _worker_rss_kb(root)
    second = []
    for start in range(0, n, 1000):
        second += await asyncio.gather(
            *(c.ask(request) for c in clients[start : start + 1000]), return_exceptions=True
        )
    ok = sum(1 for a in answers if _ok(a)) + sum(
        1 for a in second if isinstance(a, bytes) and _ok(a)
    )
    for c in clients + warm:
        c.transport.close()
    return {
        "connections": n,
        "open_and_first_request_s": round(opened, 2),
        "held_s": hold,
        "rss_kb_before": before,
        "rss_kb_after": after,
        "worker_rss_kb_before": worker_before,
        "worker_rss_kb_after": worker_after,
        "bytes_per_idle_connection": round((worker_after - worker_before) * 1024 / n),
        "answered_ok": ok,
        "requests": len(answers) + n,
        "first_request": not silent,
    }


class DiskProbe:
    """A thread that writes 4 kB and ``fdatasync``\ s it every 20 ms on the lake's filesystem:
    how long the disk itself makes a commit wait during the window (no server involved)."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "disk-probe.bin"
        self.times: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> DiskProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.path.unlink(missing_ok=True)

    def _run(self) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            while not self._stop.wait(0.02):
                os.write(fd, b"p" * 4096)
                t0 = time.perf_counter()
                os.fdatasync(fd)
                self.times.append(time.perf_counter() - t0)
        finally:
            os.close(fd)

    def summary(self) -> dict[str, float]:
        lat = sorted(self.times)
        if not lat:
            return {}
        return {
            "syncs": len(lat),
            "p50": round(lat[len(lat) // 2] * 1000, 2),
            "p99": round(lat[int(len(lat) * 0.99)] * 1000, 2),
            "max": round(lat[-1] * 1000, 2),
            "over_10ms": sum(1 for x in lat if x > SLOW),
        }


async def steady(
    port: int, key: str, root: int, n: int, seconds: float, disk: Path
) -> dict[str, Any]:
    request = _request(key)
    clients = await _connect(port, n)
    await asyncio.gather(*(c.ask(request) for c in clients))  # warm
    latencies: list[float] = []
    errors = 0
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.5
    cpu0 = _cpu(root)
    waited0 = _run_queue_wait(root)
    threads0 = _thread_cpu(root)

    async def sender(i: int, client: Client) -> None:
        nonlocal errors
        k = 0
        while True:
            due = start + k + i / n
            if due > start + seconds:
                return
            await asyncio.sleep(max(0.0, due - loop.time()))
            t0 = time.perf_counter()
            try:
                answer = await client.ask(request)
            except ConnectionError:
                errors += 1
                return
            took = time.perf_counter() - t0
            latencies.append(took)
            if took > SLOW:
                slow.append((due - start, took))
            if not _ok(answer):
                errors += 1
            k += 1

    slow: list[tuple[float, float]] = []
    probe = asyncio.ensure_future(_lag_probe(start, seconds))
    with DiskProbe(disk) as fsyncs:
        await asyncio.gather(*(sender(i, c) for i, c in enumerate(clients)))
    cpu = _cpu(root) - cpu0
    waited = _run_queue_wait(root) - waited0
    threads = {
        name: round(used - threads0.get(name, 0.0), 2)
        for name, used in _thread_cpu(root).items()
        if used - threads0.get(name, 0.0) >= 0.01
    }
    client_lag = await probe
    for c in clients:
        c.transport.close()
    lat = sorted(latencies)

    def q(p: float) -> float:
        return round(lat[min(len(lat) - 1, int(len(lat) * p))] * 1000, 2)

    return {
        "connections": n,
        "seconds": seconds,
        "requests": len(lat),
        "errors": errors,
        "p50_ms": q(0.5),
        "p99_ms": q(0.99),
        "max_ms": round(lat[-1] * 1000, 2),
        "server_cpu_s": round(cpu, 2),
        "cpu_s_per_1k": round(cpu / max(len(lat), 1) * 1000, 4),
        "server_cpu_s_by_thread": threads,
        "server_run_queue_wait_s": round(waited, 2),
        "slow_requests": len(slow),
        "slow_by_second": _by_second(slow),
        "client_loop_lag_ms": client_lag,
        "disk_fdatasync_ms": fsyncs.summary(),
    }


SLOW = 0.010  # a request slower than the target p99


def _by_second(slow: list[tuple[float, float]]) -> dict[int, str]:
    """Requests over ``SLOW`` per second of the window: how many, and the slowest (ms)."""
    out: dict[int, list[float]] = {}
    for at, took in slow:
        out.setdefault(int(at), []).append(took)
    return {s: f"{len(v)}x<={max(v) * 1000:.0f}" for s, v in sorted(out.items())}


async def _lag_probe(start: float, seconds: float) -> dict[str, float]:
    """How late this client's own loop wakes a 1 ms timer: the client's share of a tail."""
    loop = asyncio.get_running_loop()
    lags: list[float] = []
    while loop.time() < start + seconds:
        t = loop.time()
        await asyncio.sleep(0.001)
        lags.append(loop.time() - t - 0.001)
    lags.sort()
    if not lags:
        return {}
    return {
        "p99": round(lags[int(len(lags) * 0.99)] * 1000, 2),
        "max": round(lags[-1] * 1000, 2),
    }


@contextlib.contextmanager
def _target(args: argparse.Namespace, tmp: Path, need: int) -> Iterator[tuple[int, int, str]]:
    """The server under test, started on ``--server-cpus``: ``(port, pid, HEC key)``."""
    if args.peer:
        with affinity(args.server_cpus):
            proc = subprocess.Popen(
                [sys.executable, "-m", "bench.peer", "--port", "0", "--mode", args.peer],
                stdout=subprocess.PIPE,
                text=True,
            )
        try:
            assert proc.stdout is not None
            port = int(proc.stdout.readline().rsplit(":", 1)[1])
            yield port, proc.pid, "peer"
        finally:
            proc.terminate()
            proc.wait(10)
        return
    from lakehose.testing import run_server

    serve_args = [
        "--durability",
        "fsync",
        "--max-connections",
        str(need),
        "--max-connections-per-address",
        "0",
    ]
    with affinity(args.server_cpus):
        running = run_server(tmp / "lake", args=serve_args)
        server = running.__enter__()
    try:
        assert server.proc is not None and server.api_key is not None
        yield server.port, server.proc.pid, server.api_key
    finally:
        running.__exit__(None, None, None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--idle", type=int, default=10_000, help="idle connections (0: skip)")
    parser.add_argument("--hold", type=float, default=5.0, help="seconds to hold them idle")
    parser.add_argument(
        "--silent", action="store_true", help="idle connections send nothing before the hold"
    )
    parser.add_argument("--steady", type=int, default=1_000, help="1 event/s senders (0: skip)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--server-cpus", type=parse_cpus, help="pin the server (taskset list)")
    parser.add_argument("--client-cpus", type=parse_cpus, help="pin this client (taskset list)")
    parser.add_argument(
        "--nice",
        type=int,
        help="run this client and the server it starts at this nice value (e.g. -10, as root)",
    )
    parser.add_argument(
        "--peer",
        choices=("httptools", "uvicorn"),
        help="aim at bench.peer in this mode (canned HEC 200, nothing stored) instead of lakehose",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.nice is not None:  # inherited by the server started below
        os.setpriority(os.PRIO_PROCESS, 0, args.nice)

    import uvloop

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = max(args.idle, args.steady) + 200
    if hard < need:
        print(f"the file-descriptor hard limit ({hard}) is below {need}", file=sys.stderr)
        return 2
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    results: dict[str, Any] = {}
    with (
        contextlib.ExitStack() as stack,
        tempfile.TemporaryDirectory() as tmp,
        _target(args, Path(tmp), need) as (port, root, key),
    ):
        if args.client_cpus:
            os.sched_setaffinity(0, args.client_cpus)
        if args.nice is not None:  # ahead of the other sessions' processes, for this run
            autogroup_nice(root, args.nice)
            own = autogroup_nice(os.getpid(), args.nice)
            stack.callback(lambda: own is None or autogroup_nice(os.getpid(), own))
        if args.idle:
            results["idle"] = uvloop.run(idle(port, key, root, args.idle, args.hold, args.silent))
        if args.steady:
            results["steady"] = uvloop.run(
                steady(port, key, root, args.steady, args.seconds, Path(tmp))
            )
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for name, row in results.items():
            print(name + ": " + ", ".join(f"{k}={v}" for k, v in row.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
