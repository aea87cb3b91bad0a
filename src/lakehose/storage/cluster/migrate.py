"""``lakehose migrate --to nats://...``: a single-node lake copied into a cluster, offsets kept.

The target must hold no lake of that name yet, not even part of one (an interrupted migrate
leaves messages that a second copy would follow, shifting every offset): such a target is
refused, naming what it holds. Each partition's record batches are published in order, as
they are stored (the same compressed blobs, summaries and ingest times), several to a
message: the stream's order gives them the same offsets. A partition whose head retention
dropped starts where the source does (its base offset is recorded first). Then the catalog
(connectors and their keys as digests, API clients with their secrets' digests, console
users, settings, server-kept consumer positions), its partition count last: from then on
the lake exists. Access tokens, stream sessions and refusals are not copied: they are
short-lived, and clients get new tokens from the cluster's nodes. Nothing is deleted from
the source.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

from lakehose.config import Settings
from lakehose.errors import ClusterLakeError
from lakehose.models import BatchInfo
from lakehose.storage.cluster.catalog import ClusterCatalog, catalog_records
from lakehose.storage.jetstream.base import write_base
from lakehose.storage.jetstream.kvstore import hex_key
from lakehose.storage.jetstream.layout import Layout
from lakehose.storage.jetstream.link import NatsLink, link_for
from lakehose.storage.jetstream.log import ensure_streams, open_readers
from lakehose.storage.jetstream.writer import HEADER_ROOM, Message, PartitionWriter
from lakehose.storage.lake import shown_urls, stored_partitions
from lakehose.storage.sqlite.catalog import SqliteCatalog
from lakehose.storage.sqlite.partition import PartitionReader

READ_BATCHES = 256


@dataclass
class Copied:
    partition: int
    start: int
    end: int
    messages: int


def copy_catalog(source: SqliteCatalog, target: ClusterCatalog, partitions: int) -> dict[str, int]:
    """Every lasting record of ``source`` into ``target``'s bucket; counts by kind."""
    put = target.store.put
    counts = dict.fromkeys(("connectors", "keys", "clients", "users", "positions"), 0)
    for c in source.list_connectors():
        target.store.create("cname." + hex_key(c.name), c.id.encode())
        put("conn." + c.id, orjson.dumps(c.to_dict()))
        counts["connectors"] += 1
    now = time.time()
    for key_hash, cid, hint, created, expires in source._query(
        "SELECT key_hash, connector_id, hint, created_at, expires_at FROM api_keys"
    ):
        if expires is not None and expires <= now:
            continue
        record = {"c": cid, "hint": hint, "at": created}
        if expires is not None:
            record["until"] = expires  # rotated with a grace period
        put("key." + bytes(key_hash).hex(), orjson.dumps(record))
        counts["keys"] += 1
    for client in source.list_clients(include_revoked=True):
        (secret,) = source._query(
            "SELECT secret_hash FROM api_clients WHERE client_id = ?", (client.client_id,)
        )[0]
        put("client." + client.client_id, orjson.dumps(client.to_dict() | {"secret": secret.hex()}))
        counts["clients"] += 1
    for name, role, phash, disabled, created, last in source._query(
        "SELECT name, role, password_hash, disabled, created_at, last_login FROM console_users"
    ):
        record = {"role": role, "hash": phash, "disabled": bool(disabled),
                  "created_at": created, "last_login": last}  # fmt: skip
        put("user." + hex_key(name), orjson.dumps(record))
        counts["users"] += 1
    for app, p, committed, client_id, at, commits in source._query(
        "SELECT app_id, partition, committed, client_id, committed_at, commits "
        "FROM consumer_positions"
    ):
        record = {"committed": committed, "client_id": client_id, "at": at, "commits": commits}
        put(f"pos.{hex_key(app)}.{p}", orjson.dumps(record))
        counts["positions"] += 1
    for key, value in source._query("SELECT key, value FROM settings"):
        if key != "partitions":
            put("set." + hex_key(key), value.encode())
    target.set_setting("partitions", str(partitions))  # last: the lake now exists
    return counts


def _messages(reader: PartitionReader, room: int) -> Callable[[], list[tuple[Message, int]]]:
    """Successive groups of ``(message, ingest time)`` of a partition, in order; [] at its end."""
    start, end = reader.bounds()
    position = start

    def next_group() -> list[tuple[Message, int]]:
        nonlocal position
        found = reader.batches_from(position, READ_BATCHES) if position < end else []
        out: list[tuple[Message, int]] = []
        blobs: list[bytes] = []
        infos: list[BatchInfo] = []

        def flush() -> None:
            if infos:
                rows = [(i.count, i.min_time, i.max_time, i.connector, i.index, i.sourcetype,
                         i.raw_bytes, len(b)) for i, b in zip(infos, blobs, strict=True)]  # fmt: skip
                count = sum(i.count for i in infos)
                out.append((Message(b"".join(blobs), rows, count, ""), infos[-1].ingest_time))
                blobs.clear()
                infos.clear()

        for info, blob in found:
            if infos and (
                sum(map(len, blobs)) + len(blob) > room or info.ingest_time != infos[-1].ingest_time
            ):
                flush()
            infos.append(info)
            blobs.append(bytes(blob))
            position = info.end_offset
        flush()
        return out

    return next_group


def _fixed(ns: int) -> Callable[[], int]:
    """A clock that says when the batch was first ingested (kept by the copy)."""
    return lambda: ns


def copy_partition(data_dir: Path, urls: str, layout: Layout, p: int) -> Copied:
    link = link_for(urls)
    reader = PartitionReader(data_dir, p, readonly=True)
    try:
        start, end = reader.bounds()
        if start:
            link.call(write_base(link, layout, p, 1, start))
        writer = PartitionWriter(link, layout, p)
        room = max(64 * 1024, link.nc.max_payload - HEADER_ROOM)
        next_group = _messages(reader, room)
        sent = 0
        while group := next_group():
            for message, ingest in group:
                message.msg_id = f"{writer.next_id()}"
                writer.clock = _fixed(ingest)
                link.call(writer.publish(message))  # one at a time: stream order = offsets
                sent += 1
        return Copied(p, start, end, sent)
    finally:
        reader.close()


def _held(link: NatsLink, layout: Layout, partitions: int) -> list[str]:
    """What the cluster already holds under the lake's name: ``NAME (N messages)`` for each
    of its partition streams and its log bucket that has messages."""
    from nats.js.errors import NotFoundError

    names = [layout.stream(p) for p in range(partitions)] + [f"KV_{layout.bucket('LOG')}"]

    async def ask() -> list[str]:
        found = []
        for name in names:
            try:
                info = await link.js.stream_info(name)
            except NotFoundError:
                continue
            if info.state.messages:
                found.append(f"{name} ({info.state.messages} messages)")
        return found

    return link.call(ask())


def migrate(
    data_dir: Path, urls: str, namespace: str, replicas: int
) -> tuple[dict[str, int], list[Copied]]:
    """Copy the lake in ``data_dir`` into a new lake ``namespace`` on the cluster at ``urls``."""
    source = SqliteCatalog(data_dir / "catalog.db", readonly=True)
    try:
        partitions = stored_partitions(Settings(data_dir=data_dir), source)
        layout = Layout(namespace)
        link = link_for(urls)
        records = catalog_records(urls, namespace)
        target = ClusterCatalog(urls, namespace, replicas)
        if target.get_setting("partitions") is not None:
            raise ClusterLakeError(
                shown_urls(urls), f"already holds a lake named {namespace!r}; nothing was copied: "
                "migrate into a new one (--cluster-namespace NAME)",
            )  # fmt: skip
        held = _held(link, layout, partitions)
        if records:
            held.append(f"KV_{layout.bucket('CATALOG')} ({records} records)")
        if held:
            streams = " ".join(h.split()[0] for h in held)
            raise ClusterLakeError(
                shown_urls(urls), f"already holds part of a lake named {namespace!r} (an "
                f"interrupted migrate?): {', '.join(held)}; nothing was copied: migrate into a "
                "new one (--cluster-namespace NAME), or remove these streams first (nats "
                f"stream rm NAME, for each of {streams})",
            )  # fmt: skip
        link.call(ensure_streams(link, layout, partitions, replicas))
        copied = [copy_partition(data_dir, urls, layout, p) for p in range(partitions)]
        counts = copy_catalog(source, target, partitions)
    finally:
        source.close()
    readers = open_readers(urls, namespace, partitions)
    for c, reader in zip(copied, readers, strict=True):
        deadline = time.monotonic() + 60
        while reader.bounds() != (c.start, c.end) and time.monotonic() < deadline:
            time.sleep(0.05)
        if reader.bounds() != (c.start, c.end):
            raise ClusterLakeError(
                shown_urls(urls), f"holds offsets {reader.bounds()} of partition {c.partition}, "
                f"not the {c.start}-{c.end} copied",
            )  # fmt: skip
    return counts, copied
