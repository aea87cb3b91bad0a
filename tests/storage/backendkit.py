"""Backends for the contract suites: how to create each one's event log and catalog.

A second backend (JetStream, ...) adds one entry to ``LOG_BACKENDS`` and ``CATALOG_BACKENDS``;
the contract suites then run against it unchanged.

Run as a module, it is the appender the kill test starts in a real subprocess:

    python -m tests.storage.backendkit append|append-exit BACKEND DATA_DIR PARTITION BATCHES PREFIX
    python -m tests.storage.backendkit append-many BACKEND DATA_DIR PARTITION BATCHES PREFIX SENDERS

It appends ``BATCHES`` batches one after another and prints ``first_offset count tag``
for each as soon as its append returned (that is, once it is durable); then ``append``
sleeps (to be killed) and ``append-exit`` closes the log and exits.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

from lakehose.models import Slice
from lakehose.records import decompress_data, encode_line, split_line
from lakehose.storage.base import EventLog, LogReader, PendingAppend
from lakehose.storage.catalog.base import Catalog
from lakehose.storage.sqlite.catalog import SqliteCatalog
from lakehose.storage.sqlite.log import SqliteEventLog, open_readers
from lakehose.storage.sqlite.partition import create_partition

T0 = 1_700_000_000_000_000_000  # ns


@dataclass(frozen=True)
class LogBackend:
    """How a contract test gets a log (created on first use) and fresh readers of it."""

    name: str
    open_log: Callable[[Path, int], EventLog]
    open_readers: Callable[[Path, int], list[LogReader]]


def _sqlite_log(data_dir: Path, partitions: int) -> EventLog:
    data_dir.mkdir(parents=True, exist_ok=True)
    for p in range(partitions):
        create_partition(data_dir, p)
    return SqliteEventLog(data_dir, partitions, durability="fsync", poll_interval=0.02)


def nats_urls() -> str:
    """The session's NATS cluster (the ``nats_cluster`` fixture sets it for subprocesses too)."""
    urls = os.environ.get("LAKEHOSE_TEST_NATS")
    if not urls:
        raise RuntimeError("no NATS cluster: request the nats_cluster fixture")
    return urls


def namespace(data_dir: Path) -> str:
    """One lake per test directory on the shared cluster."""
    return "t" + hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:16]


def _jetstream_log(data_dir: Path, partitions: int) -> EventLog:
    from lakehose.storage.jetstream.layout import Layout
    from lakehose.storage.jetstream.link import link_for
    from lakehose.storage.jetstream.log import JetStreamEventLog, ensure_streams

    urls, ns = nats_urls(), namespace(data_dir)
    link = link_for(urls)
    link.call(ensure_streams(link, Layout(ns), partitions, 3))  # exists before any reader
    return JetStreamEventLog(urls, partitions, namespace=ns, replicas=3)


def _jetstream_readers(data_dir: Path, partitions: int) -> list[LogReader]:
    from lakehose.storage.jetstream.log import open_readers as jetstream_readers

    return jetstream_readers(nats_urls(), namespace(data_dir), partitions)


LOG_BACKENDS = [
    LogBackend("sqlite", _sqlite_log, open_readers),
    LogBackend("jetstream", _jetstream_log, _jetstream_readers),
]


def _jetstream_catalog(data_dir: Path) -> Catalog:
    from lakehose.storage.jetstream.catalog import JetStreamCatalog

    return JetStreamCatalog(nats_urls(), namespace(data_dir), replicas=3)


CATALOG_BACKENDS: dict[str, Callable[[Path], Catalog]] = {
    "sqlite": lambda data_dir: SqliteCatalog.create(data_dir / "catalog.db"),
    "jetstream": _jetstream_catalog,
}


def make_slice(
    tag: str, count: int, *, connector: str = "c", index: str = "main", start: int = 0
) -> Slice:
    """``count`` events ``{"tag": tag, "n": i}`` one second apart from ``T0 + start`` s."""
    s = Slice(connector, index, "st")
    for i in range(count):
        t = T0 + (start + i) * 1_000_000_000
        s.add(encode_line({"time": t}, orjson.dumps({"tag": tag, "n": i})), t)
    return s


def pending(tag: str, count: int, **kw: object) -> PendingAppend:
    return PendingAppend([make_slice(tag, count, **kw)])  # type: ignore[arg-type]


def read_all(reader: LogReader, offset: int = 0) -> list[tuple[int, dict[str, object]]]:
    """``(offset, event)`` of every event at ``offset`` or later, following batches."""
    out: list[tuple[int, dict[str, object]]] = []
    while True:
        batches = reader.batches_from(offset, 16)
        if not batches:
            return out
        for info, blob in batches:
            lines = decompress_data(blob, info.partition, info.first_offset).split(b"\n")
            for i, line in enumerate(lines):
                at = info.first_offset + i
                if at >= offset:
                    out.append((at, orjson.loads(split_line(line)[1])))
            offset = info.end_offset


async def _append(
    backend: str, data_dir: Path, partition: int, batches: int, prefix: str, stay: bool
) -> None:
    chosen = next(b for b in LOG_BACKENDS if b.name == backend)
    log = chosen.open_log(data_dir, partition + 1)
    await log.start(asyncio.get_running_loop())
    for i in range(batches):
        tag = f"{prefix}{i}"
        result = await log.append(partition, pending(tag, 1 + i % 7), 100)
        sys.stdout.write(f"{result.first_offset} {result.count} {tag}\n")
        sys.stdout.flush()
    if stay:
        time.sleep(3600)  # wait to be killed
    await log.close()


async def _append_many(
    backend: str, data_dir: Path, partition: int, batches: int, prefix: str, senders: int
) -> None:
    """``senders`` concurrent appenders (pipelined), ``batches`` in all; prints
    ``first_offset count tag ack_seconds`` for each once acknowledged. SIGTERM stops taking
    new batches: those under way are finished and printed, then the process exits 0."""
    stopping: list[int] = []  # set for the whole run, so a late SIGTERM is harmless too
    signal.signal(signal.SIGTERM, lambda signum, _: stopping.append(signum))
    chosen = next(b for b in LOG_BACKENDS if b.name == backend)
    log = chosen.open_log(data_dir, partition + 1)
    await log.start(asyncio.get_running_loop())
    todo = iter(range(batches))

    async def sender() -> None:
        for i in todo:
            if stopping:
                return
            tag = f"{prefix}{i}"
            started = time.monotonic()
            result = await log.append(partition, pending(tag, 1 + i % 7), 100)
            took = time.monotonic() - started
            sys.stdout.write(f"{result.first_offset} {result.count} {tag} {took:.3f}\n")
            sys.stdout.flush()

    await asyncio.gather(*(sender() for _ in range(senders)))
    await log.close()


if __name__ == "__main__":
    if len(sys.argv) == 8 and sys.argv[1] == "append-many":
        _, _, name, where, part, count, prefix, senders = sys.argv
        asyncio.run(_append_many(name, Path(where), int(part), int(count), prefix, int(senders)))
        raise SystemExit(0)
    if len(sys.argv) != 7 or sys.argv[1] not in ("append", "append-exit"):
        raise SystemExit(__doc__)
    mode, name, where, part, count, prefix = sys.argv[1:]
    asyncio.run(_append(name, Path(where), int(part), int(count), prefix, mode == "append"))
