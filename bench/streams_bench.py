"""Falcon stream benchmarks: replay throughput and live-tail latency, each against its own server.

    python bench/streams_bench.py replay --events 1000000
    python bench/streams_bench.py live-latency --rate 10000 --seconds 10

``replay`` loads N events over HEC (durability none: loading is not what is measured),
then reads the partition's data feed from offset 0 with a plain streaming HTTP client
that only counts lines, and reports events/s. It then shows the client's own ceiling:
the same client reading a canned copy of that feed from a trivial server that does
nothing but write it, so a replay figure well below the ceiling is the server's.

``live-latency`` opens a feed at the end of the log (``whence=2``) in a separate
process, sends events at a fixed rate (requests of ``--batch`` events on a few
keep-alive connections, the events stamped with their send time), and reports, per
event, the time from the moment its request's 200 arrived to the moment the event
arrived on the feed (p50, p99, max), and the time from send to arrival. Both ends
read ``time.monotonic``, which is one clock for every process on the machine.

Results go to stdout as text, and as JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from lakehose.testing import RunningServer, run_server

READ_SIZE = 1 << 20
QUIET = 20.0  # seconds without data after which the latency feed reader gives up
PAYLOAD = "x" * 120


# -- the server and its data -------------------------------------------------------------------


@contextmanager
def bench_server(workers: int, durability: str, extra: list[str]) -> Iterator[RunningServer]:
    with tempfile.TemporaryDirectory(prefix="lakehose-streams-bench-") as tmp:
        args = ["--durability", durability, "--no-access-log", "--log-level", "warning", *extra]
        with run_server(Path(tmp) / "data", workers=workers, args=args, timeout=60) as server:
            yield server


def event(n: int) -> dict[str, Any]:
    """A typical small security event (about 250 bytes as JSON)."""
    return {
        "host": f"web-{n % 16:02d}",
        "timestamp": 1767225600000000000 + n * 1000,
        "timeunit": "nanoseconds",
        "action": "login" if n % 3 else "logout",
        "user": f"user{n % 1000}",
        "src_ip": f"198.51.100.{n % 250}",
        "seq": n,
        "msg": PAYLOAD,
    }


def load(server: RunningServer, events: int, batch: int, senders: int) -> float:
    """Send ``events`` over HEC in requests of ``batch``; return events/s."""
    headers = {"Authorization": f"Splunk {server.api_key}"}
    starts = list(range(0, events, batch))
    lock = threading.Lock()

    def sender() -> None:
        with httpx.Client(headers=headers, timeout=120) as client:
            while True:
                with lock:
                    if not starts:
                        return
                    first = starts.pop()
                body = b"".join(
                    b'{"event":' + orjson.dumps(event(n)) + b"}"
                    for n in range(first, min(first + batch, events))
                )
                reply = client.post(server.hec_url, content=body)
                if reply.status_code != 200:
                    raise SystemExit(f"ingest failed: {reply.status_code} {reply.text}")

    began = time.perf_counter()
    threads = [threading.Thread(target=sender) for _ in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return events / (time.perf_counter() - began)


def stream_token(server: RunningServer) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "lakehose", "client", "create", f"bench-{time.time_ns()}"]
        + ["--scope", "streams:read", "--json", "--data-dir", str(server.data_dir)],
        capture_output=True,
        text=True,
        check=True,
    )
    created = json.loads(proc.stdout)
    reply = httpx.post(
        server.url + "/oauth2/token",
        data={"client_id": created["client_id"], "client_secret": created["client_secret"]},
    )
    reply.raise_for_status()
    return str(reply.json()["access_token"])


def discover(server: RunningServer, token: str, app_id: str) -> dict[str, Any]:
    reply = httpx.get(
        server.url + "/sensors/entities/datafeed/v2",
        params={"appId": app_id},
        headers={"Authorization": f"Bearer {token}"},
    )
    reply.raise_for_status()
    resource: dict[str, Any] = reply.json()["resources"][0]
    return resource


# -- the counting client -----------------------------------------------------------------------


def _recv_exactly_headers(sock: socket.socket) -> tuple[int, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(65536)
        if not more:
            raise SystemExit("connection closed before the response headers")
        data += more
    head, _, rest = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" not in head.lower():
        raise SystemExit("expected a chunked response")
    return status, rest


def count_lines(url: str, token: str, want: int, save: Path | None = None) -> tuple[float, int]:
    """GET ``url`` and count body lines until ``want``; return (seconds, body bytes).

    A plain HTTP/1.1 client on a socket: it undoes the chunked framing and counts
    newlines, nothing more (the figure to beat is in ``client-ceiling``). With
    ``save`` it also writes the body it read, for the canned replay.
    """
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    target = parts.path + ("?" + parts.query if parts.query else "")
    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    began = time.perf_counter()
    sock.sendall(
        f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nAuthorization: Token {token}\r\n"
        "Accept: application/json\r\nConnection: keep-alive\r\n\r\n".encode()
    )
    status, buffer = _recv_exactly_headers(sock)
    if status != 200:
        raise SystemExit(f"feed answered {status}: {buffer[:300]!r}")
    out = save.open("wb") if save else None
    lines = nbytes = 0
    remaining = 0  # bytes left in the current chunk
    after_chunk = False  # a CRLF ends every chunk's data
    pos = 0
    recv = sock.recv
    try:
        while lines < want:
            if pos >= len(buffer):
                buffer, pos = recv(READ_SIZE), 0
                if not buffer:
                    break
            if remaining:
                end = min(len(buffer), pos + remaining)
                lines += buffer.count(b"\n", pos, end)
                if out:
                    out.write(buffer[pos:end])
                nbytes += end - pos
                remaining -= end - pos
                pos = end
                after_chunk = remaining == 0
                continue
            while len(buffer) - pos < 2 or buffer.find(b"\r\n", pos + 2 * after_chunk) < 0:
                more = recv(READ_SIZE)
                if not more:
                    raise SystemExit("connection closed inside a chunk header")
                buffer, pos = buffer[pos:] + more, 0
            pos += 2 * after_chunk
            after_chunk = False
            eol = buffer.find(b"\r\n", pos)
            remaining = int(buffer[pos:eol], 16)
            pos = eol + 2
            if remaining == 0:
                break
        seconds = time.perf_counter() - began
    finally:
        sock.close()
        if out:
            out.close()
    return seconds, nbytes


def _canned_server(body_path: str, ready: Any, port_out: Any) -> None:
    """Answer one GET with the canned body, repeated for ever, in 1 MiB chunks."""
    body = Path(body_path).read_bytes()
    chunks = [
        b"%x\r\n" % len(body[i : i + READ_SIZE]) + body[i : i + READ_SIZE] + b"\r\n"
        for i in range(0, len(body), READ_SIZE)
    ]
    listener = socket.create_server(("127.0.0.1", 0))
    port_out.value = listener.getsockname()[1]
    ready.set()
    conn, _ = listener.accept()
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    request = b""
    while b"\r\n\r\n" not in request:
        request += conn.recv(65536)
    conn.sendall(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    try:
        while True:
            for chunk in chunks:
                conn.sendall(chunk)
    except OSError:
        pass


def client_ceiling(body: Path, want: int) -> float:
    """Events/s the counting client reaches on a canned feed (its ceiling)."""
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    port = ctx.Value("i", 0)
    proc = ctx.Process(target=_canned_server, args=(str(body), ready, port), daemon=True)
    proc.start()
    try:
        ready.wait(30)
        seconds, _ = count_lines(f"http://127.0.0.1:{port.value}/canned", "x", want)
    finally:
        proc.kill()
        proc.join()
    return want / seconds


def replay(args: argparse.Namespace) -> dict[str, Any]:
    with bench_server(args.workers, "none", []) as server:
        loaded = load(server, args.events, args.batch, args.senders)
        token = stream_token(server)
        runs = []
        with tempfile.TemporaryDirectory() as tmp:
            canned = Path(tmp) / "feed.ndjson"
            for run in range(args.runs):
                resource = discover(server, token, f"replay{run}")
                seconds, nbytes = count_lines(
                    resource["dataFeedURL"] + "&offset=0",
                    resource["sessionToken"]["token"],
                    args.events,
                    save=canned if run == 0 else None,
                )
                runs.append((seconds, nbytes))
            ceiling = client_ceiling(canned, args.events)
    best = min(s for s, _ in runs)
    return {
        "benchmark": "replay",
        "events": args.events,
        "load_events_per_s": round(loaded),
        "replay_events_per_s": [round(args.events / s) for s, _ in runs],
        "replay_best_events_per_s": round(args.events / best),
        "replay_mb_per_s": round(runs[0][1] / best / 1e6, 1),
        "bytes_per_event": round(runs[0][1] / args.events),
        "client_ceiling_events_per_s": round(ceiling),
        "workers": args.workers,
    }


# -- live latency ------------------------------------------------------------------------------


def _feed_reader(url: str, token: str, want: int, ready: Any, results: Any) -> None:
    """In its own process: read ``want`` events; return (id, sent, arrived) for each.

    While reading it only stamps each ``recv`` and counts event markers (C-level work):
    decoding 50,000 events/s as they come took this process more CPU than it got on a
    busy machine, and the events then waited in the socket, measured as latency. The
    lines are decoded after the last event, each stamped with the ``recv`` that
    completed it."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.sendall(
        f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Authorization: Token {token}\r\n\r\n".encode()
    )
    status, buffer = _recv_exactly_headers(sock)
    if status != 200:
        raise SystemExit(f"feed answered {status}")
    ready.set()
    marker = b'"event":{"id":'
    received: list[tuple[int, bytes]] = [(time.monotonic_ns(), buffer)]
    count = buffer.count(marker)
    tail = buffer[1 - len(marker) :]
    monotonic_ns = time.monotonic_ns
    sock.settimeout(1.0)
    last = time.monotonic()
    while count < want:
        if time.monotonic() - last > QUIET:
            break  # the events of refused requests never come
        try:
            data = sock.recv(READ_SIZE)
        except TimeoutError:
            continue
        if not data:
            break
        received.append((monotonic_ns(), data))
        more = (tail + data).count(marker)  # a marker may straddle two reads
        tail = data[1 - len(marker) :]
        if more:
            count += more
            last = time.monotonic()
    sock.close()
    seen: list[tuple[int, int, int]] = []
    pending = b""
    for now, data in received:
        pending += data
        *lines, pending = pending.split(b"\n")
        for line in lines:
            i = line.find(marker)
            if i < 0:
                continue  # chunk framing or a keep-alive
            event = orjson.loads(line[line.index(b"{", i + 8) : -2])
            seen.append((event["id"], event["sent"], now))
    results.send(seen)


class Sender:
    """Minimal HTTP/1.1 keep-alive client on asyncio streams: cheap enough to pace 1000s req/s."""

    def __init__(self, url: str, key: str) -> None:
        self.parts = urlsplit(url)
        self.key = key
        self.reader: asyncio.StreamReader
        self.writer: asyncio.StreamWriter

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(
            self.parts.hostname, self.parts.port
        )

    async def post(self, body: bytes) -> int:
        self.writer.write(
            b"POST %b HTTP/1.1\r\nHost: %b\r\nAuthorization: Splunk %b\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%b"
            % (
                self.parts.path.encode(),
                self.parts.netloc.encode(),
                self.key.encode(),
                len(body),
                body,
            )
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await self.reader.readexactly(length)
        return int(head.split(b" ", 2)[1])


async def _send_paced(
    server: RunningServer, rate: int, seconds: float, batch: int, connections: int
) -> dict[int, int]:
    """Send ``rate`` events/s for ``seconds``; return event id -> monotonic ns of its 200."""
    acked: dict[int, int] = {}
    pool: asyncio.Queue[Sender] = asyncio.Queue()
    for _ in range(connections):
        sender = Sender(server.hec_url, str(server.api_key))
        await sender.connect()
        pool.put_nowait(sender)
    interval = batch / rate
    total = int(rate * seconds) // batch
    tasks = []

    async def one(first: int) -> None:
        sender = await pool.get()
        try:
            sent = time.monotonic_ns()
            acked[-2] = max(acked.get(-2, 0), sent)  # when the last request went out
            body = b"".join(
                b'{"event":{"id":%d,"sent":%d}}' % (n, sent) for n in range(first, first + batch)
            )
            status = await sender.post(body)
            done = time.monotonic_ns()
            if status != 200:
                raise SystemExit(f"ingest answered {status}")
            for n in range(first, first + batch):
                acked[n] = done
        finally:
            pool.put_nowait(sender)

    began = time.monotonic()
    acked[-1] = time.monotonic_ns()  # when sending began (not an event id)
    for k in range(total):
        delay = began + k * interval - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(k * batch)))
    await asyncio.gather(*tasks)
    while not pool.empty():
        pool.get_nowait().writer.close()
    return acked


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def live_latency(args: argparse.Namespace) -> dict[str, Any]:
    extra = ["--heartbeat-interval", "10"]
    with bench_server(args.workers, args.durability, extra) as server:
        token = stream_token(server)
        resource = discover(server, token, "live")
        total = int(args.rate * args.seconds) // args.batch * args.batch
        ctx = multiprocessing.get_context("spawn")
        ready = ctx.Event()
        receive, give = ctx.Pipe(duplex=False)
        url = resource["dataFeedURL"] + "&whence=2"
        reader = ctx.Process(
            target=_feed_reader,
            args=(url, resource["sessionToken"]["token"], total, ready, give),
            daemon=True,
        )
        reader.start()
        if not ready.wait(30):
            raise SystemExit("the feed did not open")
        acked = asyncio.run(
            _send_paced(server, args.rate, args.seconds, args.batch, args.connections)
        )
        if not receive.poll(60):
            raise SystemExit("the feed reader did not get every event")
        seen: list[tuple[int, int, int]] = receive.recv()
        reader.join(10)
    began, last_sent = acked.pop(-1), acked.pop(-2)
    sent_for = (last_sent - began) / 1e9
    warmup = int(args.rate * args.warmup)
    after_ack = [(arrived - acked[i]) / 1e6 for i, _, arrived in seen if i >= warmup]
    after_send = [(arrived - sent) / 1e6 for i, sent, arrived in seen if i >= warmup]
    return {
        "benchmark": "live-latency",
        "rate_events_per_s": args.rate,
        "sent_events_per_s": round((len(acked) - args.batch) / sent_for),
        "events": len(seen),
        "measured_events": len(after_ack),
        "batch": args.batch,
        "durability": args.durability,
        "workers": args.workers,
        "ack_to_feed_ms": {
            "p50": round(percentile(after_ack, 0.50), 2),
            "p99": round(percentile(after_ack, 0.99), 2),
            "max": round(max(after_ack), 2),
            "before_ack_share": round(sum(v < 0 for v in after_ack) / len(after_ack), 3),
        },
        "send_to_feed_ms": {
            "p50": round(percentile(after_send, 0.50), 2),
            "p99": round(percentile(after_send, 0.99), 2),
            "max": round(max(after_send), 2),
        },
    }


# -- command line ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="streams_bench.py", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    sub = parser.add_subparsers(dest="benchmark", required=True)

    rep = sub.add_parser("replay", help="events/s reading a partition's feed from offset 0")
    rep.add_argument("--events", type=int, default=1_000_000, help="events to load and replay")
    rep.add_argument("--batch", type=int, default=1000, help="events per HEC request (load)")
    rep.add_argument("--senders", type=int, default=4, help="concurrent HEC senders (load)")
    rep.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="server workers")
    rep.add_argument("--runs", type=int, default=3, help="replays of the same data")

    live = sub.add_parser("live-latency", help="ms from a 200 on ingest to the event on a feed")
    live.add_argument("--rate", type=int, default=10_000, help="events sent per second")
    live.add_argument("--seconds", type=float, default=10.0, help="how long to send")
    live.add_argument("--warmup", type=float, default=1.0, help="seconds left out of the figures")
    live.add_argument("--batch", type=int, default=10, help="events per HEC request")
    live.add_argument("--connections", type=int, default=32, help="keep-alive HEC connections")
    live.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="server workers")
    live.add_argument(
        "--durability", choices=["fsync", "none"], default="fsync", help="server durability"
    )
    args = parser.parse_args(argv)
    result = replay(args) if args.benchmark == "replay" else live_latency(args)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>28}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
