"""The parts of the soak test: HEC senders on threads, stream consumers in their own processes,
a per-event ledger kept as one byte per event, and the server's memory sampled from /proc.

Every event is ``{"s": sender, "n": seq, ...}``; a sender numbers its events from 0, so a
ledger is one ``bytearray`` per sender, indexed by ``n``: what was acknowledged, what the
lake holds, what each consumer saw (a count per event, capped at 255). Millions of events
fit in a few MB, and comparing two ledgers is comparing bytes.
"""

from __future__ import annotations

import gzip
import multiprocessing
import queue
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from lakehose.records import decompress_lines, split_line
from lakehose.storage.sqlite.partition import PartitionReader

Ledger = dict[int, bytearray]  # sender -> one byte per event
PAD = b"x" * 120
ACK_POLL_SECONDS = 0.5


def count(ledger: Ledger, sender: int, lo: int, hi: int) -> None:
    """Add one to events ``lo`` .. ``hi - 1`` of ``sender`` (capped at 255)."""
    row = ledger[sender]
    if len(row) < hi:
        row.extend(bytes(max(hi, 2 * len(row)) - len(row)))
    for n in range(lo, hi):
        if row[n] < 255:
            row[n] += 1


def same(a: Ledger, b: Ledger) -> list[int]:
    """The senders whose rows differ (trailing zeros ignored)."""
    return [
        s
        for s in sorted(a.keys() | b.keys())
        if bytes(a.get(s, b"")).rstrip(b"\0") != bytes(b.get(s, b"")).rstrip(b"\0")
    ]


@dataclass
class SenderSpec:
    number: int
    batch: int
    gzip: bool
    ack: bool


@dataclass
class Sent:
    """What one sender did; ``acked`` has a 1 per acknowledged event (ack true, or 200 without)."""

    acked: bytearray = field(default_factory=bytearray)
    requests: int = 0
    events: int = 0
    retries: int = 0  # 503 code 9 answers, each retried after Retry-After
    errors: list[str] = field(default_factory=list)


def sender(
    spec: SenderSpec, url: str, key: str, channel: str | None, until: float, sent: Sent
) -> None:
    """Send batches until ``until`` (``time.monotonic``); then wait for every outstanding ack.

    A thread each: httpx's blocking client costs a fraction of the CPU its asyncio client
    does per request, and this process's one core is what limits the load it can offer.
    """
    headers = {"Authorization": f"Splunk {key}"}
    if channel is not None:
        headers["X-Splunk-Request-Channel"] = channel
    data_headers = {"Content-Encoding": "gzip"} if spec.gzip else {}
    ledger: Ledger = {spec.number: sent.acked}
    pending: dict[int, tuple[int, int]] = {}
    seq = 0
    polled = time.monotonic()
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:

        def poll() -> None:
            try:
                reply = client.post("/services/collector/ack", json={"acks": sorted(pending)})
            except httpx.HTTPError as exc:
                sent.errors.append(f"sender {spec.number} ack poll: {exc!r}")
                return
            if reply.status_code != 200:
                sent.errors.append(
                    f"sender {spec.number} ack poll: {reply.status_code} {reply.text}"
                )
                return
            for ack_id, done in reply.json()["acks"].items():
                if done:
                    count(ledger, spec.number, *pending.pop(int(ack_id)))

        while time.monotonic() < until and not sent.errors:
            lo, hi = seq, seq + spec.batch
            seq = hi
            body = b"".join(
                b'{"event":{"s":%d,"n":%d,"pad":"%b"}}' % (spec.number, n, PAD)
                for n in range(lo, hi)
            )
            if spec.gzip:
                body = gzip.compress(body, 1)
            while True:
                try:
                    reply = client.post("/services/collector", content=body, headers=data_headers)
                except httpx.HTTPError as exc:
                    sent.errors.append(f"sender {spec.number}: {exc!r}")
                    return
                sent.requests += 1
                if reply.status_code == 503 and reply.json().get("code") == 9:
                    sent.retries += 1  # "server is busy": nothing was taken; the same again
                    time.sleep(float(reply.headers.get("Retry-After", "1")))
                    continue
                break
            if reply.status_code != 200 or reply.json().get("code") != 0:
                sent.errors.append(f"sender {spec.number}: {reply.status_code} {reply.text}")
                return
            sent.events += hi - lo
            if spec.ack:
                pending[reply.json()["ackId"]] = (lo, hi)
                if time.monotonic() - polled >= ACK_POLL_SECONDS:
                    poll()
                    polled = time.monotonic()
            else:
                count(ledger, spec.number, lo, hi)
        give_up = time.monotonic() + 60
        while pending and time.monotonic() < give_up and not sent.errors:
            poll()
            time.sleep(0.1)
        if pending:
            sent.errors.append(f"sender {spec.number}: acks {sorted(pending)[:5]} never true")


def consume(url: str, credentials: tuple[str, str], app_id: str, ends: Any, results: Any) -> None:
    """A consumer process: read the stream from offset 0 until the end offset it is sent."""
    from lakehose.client import StreamConsumer

    seen: Ledger = defaultdict(bytearray)
    problems: list[str] = []
    expect = 0
    end: int | None = None
    try:
        with StreamConsumer(
            url,
            client_id=credentials[0],
            client_secret=credentials[1],
            app_id=app_id,
            offset=0,
            reconnect_backoff=0.2,
            max_backoff=2.0,
        ) as consumer:
            while end is None or expect < end:
                if end is None:
                    try:
                        end = ends.get_nowait()
                    except queue.Empty:
                        pass
                event = consumer.poll(0.5)
                if event is None:
                    continue
                offset = event["metadata"]["offset"]
                if offset != expect and len(problems) < 10:
                    problems.append(f"offset {offset} where {expect} was due")
                expect = offset + 1
                body = event["event"]
                count(seen, body["s"], body["n"], body["n"] + 1)
            stats = consumer.stats.to_dict()
    except BaseException as exc:  # reported, not raised: the parent fails the test
        results.put((app_id, None, {}, [f"consumer failed: {exc!r}"], {}))
        return
    results.put((app_id, expect, {s: bytes(r) for s, r in seen.items()}, problems, stats))


def start_consumers(
    url: str, credentials: tuple[str, str], count_: int
) -> tuple[list[Any], list[Any], Any]:
    """``count_`` consumer processes (spawned: this process has threads); their end queues."""
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    procs, ends = [], []
    for i in range(count_):
        end_queue = ctx.Queue()
        proc = ctx.Process(
            target=consume, args=(url, credentials, f"soak-{i}", end_queue, results), daemon=True
        )
        proc.start()
        procs.append(proc)
        ends.append(end_queue)
    return procs, ends, results


def read_lake(data_dir: Path) -> tuple[int, Ledger]:
    """Partition 0's end offset and what it holds, batch by batch; asserts dense offsets and
    that every batch decodes (zstd checksum, line count)."""
    held: Ledger = defaultdict(bytearray)
    reader = PartitionReader(data_dir, 0)
    try:
        offset = 0
        while True:
            batches = reader.batches_from(offset, 200)
            if not batches:
                break
            for info, blob in batches:
                assert info.first_offset == offset, f"gap before {info}"
                for line in decompress_lines(blob, 0, info.first_offset, info.count):
                    event = orjson.loads(split_line(line)[1])
                    count(held, event["s"], event["n"], event["n"] + 1)
                offset = info.end_offset
        assert reader.bounds() == (0, offset), reader.bounds()
    finally:
        reader.close()
    return offset, held


class MemorySampler:
    """Samples the RSS of the server's processes every ``interval`` seconds, on a thread."""

    def __init__(self, root: int, interval: float = 2.0) -> None:
        from tests.helpers import process_rss

        self._rss = process_rss
        self.root = root
        self.interval = interval
        self.samples: list[tuple[float, dict[int, int]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> MemorySampler:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), self._rss(self.root)))
            self._stop.wait(self.interval)

    def now(self) -> dict[int, int]:
        sample = self._rss(self.root)
        self.samples.append((time.monotonic(), sample))
        return sample

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def peak(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for _, sample in self.samples:
            for pid, rss in sample.items():
                out[pid] = max(out.get(pid, 0), rss)
        return out
