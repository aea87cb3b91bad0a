"""Drive load from Python: N processes, each with M keep-alive connections on uvloop.

The fallback when wrk is missing. Each process is ``python -m bench.python_load``
with a JSON job in a file beside the body; each says ``ready`` once it is up, and when all
are, they are told the window: they connect, send from then on (warm-up), count only
replies that arrive between ``start_at`` and ``stop_at`` (wall clock, shared by all
processes), and print one JSON result. The window opens only once every process is up, so
a loaded machine that is slow to start them shortens no measurement.
One request is in flight per connection, as with wrk.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import sys
import time
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import orjson

from bench.load import SUCCESS_MARK, LoadResult, LoadSpec, latency_bucket, percentiles
from bench.target import affinity

PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent)


class Tally:
    """Replies of one process inside the timed window."""

    def __init__(self, start_at: float, stop_at: float) -> None:
        self.start_at = start_at
        self.stop_at = stop_at
        self.statuses: Counter[int] = Counter()
        self.latency: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()
        self.bad_bodies = 0
        self.acked_with_warmup = 0

    def reply(self, status: int, body: bytes, seconds: float) -> None:
        success = status == 200 and SUCCESS_MARK in body
        self.acked_with_warmup += success
        if self.start_at <= time.time() <= self.stop_at:
            self.statuses[status] += 1
            self.latency[latency_bucket(seconds)] += 1
            if status == 200 and not success:
                self.bad_bodies += 1

    def error(self, kind: str) -> None:
        if self.start_at <= time.time() <= self.stop_at:
            self.errors[kind] += 1


class Connection(asyncio.Protocol):
    """One keep-alive connection sending the same request again as soon as a reply is in."""

    def __init__(self, request: bytes, tally: Tally, finished: asyncio.Future[None]) -> None:
        self.request = request
        self.tally = tally
        self.finished = finished
        self.buffer = bytearray()
        self.sent_at = 0.0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.send()

    def send(self) -> None:
        assert self.transport is not None
        if time.time() >= self.tally.stop_at:
            self.transport.close()
            return
        self.sent_at = time.perf_counter()
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return
        head = bytes(self.buffer[:head_end]).lower()
        if b"transfer-encoding: chunked" in head:
            end = self.buffer.find(b"0\r\n\r\n", head_end + 4)
            if end < 0:
                return
            end += 5
        else:
            at = head.find(b"content-length:")
            length = int(head[at + 15 :].split(b"\r\n", 1)[0]) if at >= 0 else 0
            end = head_end + 4 + length
            if len(self.buffer) < end:
                return
        status = int(head[9:12])
        self.tally.reply(
            status, bytes(self.buffer[head_end + 4 : end]), time.perf_counter() - self.sent_at
        )
        del self.buffer[:end]
        if b"connection: close" in head:
            assert self.transport is not None
            self.transport.close()  # connection_lost opens a new one
        else:
            self.send()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.buffer or exc is not None:
            self.tally.error("read")
        if not self.finished.done():
            self.finished.set_result(None)


async def _drive(job: dict[str, Any]) -> Tally:
    url = urlsplit(job["url"])
    tls = ssl.create_default_context() if url.scheme == "https" else None
    if tls is not None:  # benchmarks aim at test servers, often with self-signed certificates
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE
    host, port = url.hostname or "127.0.0.1", url.port or (443 if tls else 80)
    body = Path(job["body_file"]).read_bytes()
    head = [
        f"POST {url.path or '/'} HTTP/1.1",
        f"Host: {url.netloc}",
        *(f"{k}: {v}" for k, v in job["headers"].items()),
        f"Content-Length: {len(body)}",
    ]
    request = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
    start_at, stop_at = await asyncio.to_thread(await_window)
    tally = Tally(start_at, stop_at)
    loop = asyncio.get_running_loop()

    async def keep_connected() -> None:
        while time.time() < tally.stop_at:
            finished: asyncio.Future[None] = loop.create_future()
            try:
                await loop.create_connection(
                    partial(Connection, request, tally, finished), host, port, ssl=tls
                )
            except OSError:
                tally.error("connect")
                await asyncio.sleep(0.1)
                continue
            await finished

    await asyncio.wait_for(
        asyncio.gather(*(keep_connected() for _ in range(job["connections"]))),
        timeout=stop_at - time.time() + 30,
    )
    return tally


def await_window() -> tuple[float, float]:
    """Say ``ready`` on stdout; read ``START STOP`` (wall-clock seconds) from stdin."""
    sys.stdout.buffer.write(b"ready\n")
    sys.stdout.buffer.flush()
    start_at, stop_at = sys.stdin.readline().split()
    return float(start_at), float(stop_at)


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    import uvloop

    tally = uvloop.run(_drive(job))
    return {
        "statuses": dict(tally.statuses),
        "bad_bodies": tally.bad_bodies,
        "acked_with_warmup": tally.acked_with_warmup,
        "errors": dict(tally.errors),
        "latency": dict(tally.latency),
    }


class PythonLoad:
    """``processes`` generator processes sharing ``connections`` between them."""

    def __init__(self, spec: LoadSpec, *, processes: int, seconds: float, warmup: float) -> None:
        connections = spec.connections
        processes = max(1, min(processes, connections))
        self.processes = processes
        env = {**os.environ, "PYTHONPATH": PACKAGE_PARENT}
        self.procs: list[subprocess.Popen[bytes]] = []
        for i in range(processes):
            job = {
                "url": spec.endpoint,
                "headers": spec.payload.headers(spec.token),
                "body_file": str(spec.body_file),
                "connections": connections // processes + (i < connections % processes),
            }
            job_file = spec.body_file.with_name(f"job-{i}.json")  # a file keeps the key out of `ps`
            job_file.write_bytes(orjson.dumps(job))
            with affinity(spec.cpus):
                self.procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "bench.python_load", str(job_file)],
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                        env=env,
                    )
                )
        self.pids = [p.pid for p in self.procs]
        for proc in self.procs:
            assert proc.stdout is not None
            if proc.stdout.readline() != b"ready\n":
                raise RuntimeError(f"python generator failed ({proc.wait()})")
        # every process is up: a moment to connect (at least), then the warm-up, then the window
        self.start_at = time.time() + max(warmup, 0.5)
        self.stop_at = self.start_at + seconds
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write(f"{self.start_at!r} {self.stop_at!r}\n".encode())
            proc.stdin.flush()  # communicate() closes it

    @property
    def measure_from(self) -> float:
        """When the timed window opens, on the monotonic clock."""
        return time.monotonic() + (self.start_at - time.time())

    def wait(self) -> LoadResult:
        statuses: Counter[int] = Counter()
        errors: Counter[str] = Counter()
        latency: Counter[int] = Counter()
        bad = acked = 0
        for proc in self.procs:
            out, _ = proc.communicate(timeout=self.stop_at - time.time() + 60)
            if proc.returncode != 0:
                raise RuntimeError(f"python generator failed ({proc.returncode})")
            part = orjson.loads(out)
            statuses.update({int(k): v for k, v in part["statuses"].items()})
            errors.update(part["errors"])
            latency.update({int(k): v for k, v in part["latency"].items()})
            bad += part["bad_bodies"]
            acked += part["acked_with_warmup"]
        return LoadResult(
            generator="python",
            seconds=self.stop_at - self.start_at,
            requests=sum(statuses.values()),
            statuses=dict(statuses),
            bad_bodies=bad,
            socket_errors=dict(errors),
            latency_ms=percentiles(latency),
            parallel=self.processes,
            acked_with_warmup=acked,
            detail={"processes": self.processes},
        )


if __name__ == "__main__":
    job = orjson.loads(Path(sys.argv[1]).read_bytes())
    sys.stdout.buffer.write(orjson.dumps(run_job(job), option=orjson.OPT_NON_STR_KEYS))
