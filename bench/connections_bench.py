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
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.procstat import parse_cpus, read_proc, tree
from bench.target import affinity

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


async def steady(port: int, key: str, root: int, n: int, seconds: float) -> dict[str, Any]:
    request = _request(key)
    clients = await _connect(port, n)
    await asyncio.gather(*(c.ask(request) for c in clients))  # warm
    latencies: list[float] = []
    errors = 0
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.5
    cpu0 = _cpu(root)

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
            latencies.append(time.perf_counter() - t0)
            if not _ok(answer):
                errors += 1
            k += 1

    await asyncio.gather(*(sender(i, c) for i, c in enumerate(clients)))
    cpu = _cpu(root) - cpu0
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
    }


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
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    import uvloop

    from lakehose.testing import run_server

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = max(args.idle, args.steady) + 200
    if hard < need:
        print(f"the file-descriptor hard limit ({hard}) is below {need}", file=sys.stderr)
        return 2
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    serve_args = [
        "--durability",
        "fsync",
        "--max-connections",
        str(need),
        "--max-connections-per-address",
        "0",
    ]
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        with affinity(args.server_cpus):
            running = run_server(Path(tmp) / "lake", args=serve_args)
            server = running.__enter__()
        try:
            assert server.proc is not None and server.api_key is not None
            if args.client_cpus:
                os.sched_setaffinity(0, args.client_cpus)
            root, key = server.proc.pid, server.api_key
            if args.idle:
                results["idle"] = uvloop.run(
                    idle(server.port, key, root, args.idle, args.hold, args.silent)
                )
            if args.steady:
                results["steady"] = uvloop.run(
                    steady(server.port, key, root, args.steady, args.seconds)
                )
        finally:
            running.__exit__(None, None, None)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for name, row in results.items():
            print(name + ": " + ", ".join(f"{k}={v}" for k, v in row.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
