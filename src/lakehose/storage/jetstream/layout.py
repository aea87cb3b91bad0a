"""Where a lake lives in JetStream, and how a record batch is written as a message.

A lake is a *namespace* (``lakehose`` by default; tests use one per test) on a cluster:

* partition ``p`` is the stream ``<NS>_P<p>`` (subject ``<ns>.log.p<p>``), file storage,
  ``replicas`` copies, direct get allowed (readers fetch blobs by sequence from any replica);
* the catalog is in key-value buckets ``<NS>_<name>`` (``catalog/``).

One message is one appended request (or, past ``max_payload``, one slice of it). Its
payload is the request's record batches' blobs back to back; its headers say where each
begins and what it holds:

* ``Lh-First``: the offset of its first event (offsets are dense per partition: see
  ``writer.py`` for how they are assigned);
* ``Lh-Ingest``: ingest time (ns), never lower than the previous message's;
* ``Lh-Batches``: JSON ``[[count, min_time, max_time, connector, index, sourcetype,
  raw_bytes, stored_bytes], ...]``.

A message with no batches (``[]``) is a *marker*: retention writes one before it purges
every batch, so the stream's last message still tells the end offset.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import orjson

from lakehose.models import BatchInfo

H_FIRST = "Lh-First"
H_INGEST = "Lh-Ingest"
H_BATCHES = "Lh-Batches"
H_MSG_ID = "Nats-Msg-Id"
H_EXPECT_SEQ = "Nats-Expected-Last-Sequence"
H_EXPECT_ID = "Nats-Expected-Last-Msg-Id"

DUPLICATE_WINDOW = 120.0  # seconds; longer than any append's retry horizon (APPEND_DEADLINE)
APPEND_DEADLINE = 60.0
_NS_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


def check_namespace(ns: str) -> str:
    if not _NS_RE.match(ns):
        raise ValueError(
            f"cluster namespace {ns!r} must be 1-32 lower-case letters, digits, _ or -"
        )
    return ns


@dataclass(frozen=True)
class Layout:
    """Names of one lake's streams and buckets."""

    namespace: str = "lakehose"

    def stream(self, partition: int) -> str:
        return f"{self.namespace.upper().replace('-', '_')}_P{partition}"

    def subject(self, partition: int) -> str:
        return f"{self.namespace}.log.p{partition}"

    def bucket(self, name: str) -> str:
        return f"{self.namespace.upper().replace('-', '_')}_{name}"


@dataclass(frozen=True, slots=True)
class StoredBatch:
    """A batch as an index keeps it: its summary and where its blob is."""

    info: BatchInfo
    seq: int  # the stream sequence of its message
    start: int  # byte offset of its blob in the message payload


@dataclass(frozen=True, slots=True)
class MessageHead:
    """What a message's headers say."""

    seq: int
    first: int
    ingest: int
    count: int
    msg_id: str
    batches: list[StoredBatch]


def encode_batches(rows: list[tuple[int, int, int, str, str, str, int, int]]) -> str:
    return orjson.dumps(rows).decode()


def decode_head(partition: int, seq: int, headers: dict[str, str] | None) -> MessageHead | None:
    """A message's headers as a :class:`MessageHead`; None for a message that is not ours."""
    if not headers or H_FIRST not in headers:
        return None
    first = int(headers[H_FIRST])
    ingest = int(headers[H_INGEST])
    batches: list[StoredBatch] = []
    offset, start = first, 0
    for count, tmin, tmax, conn, idx, st, raw, stored in orjson.loads(headers[H_BATCHES]):
        info = BatchInfo(partition, offset, count, tmin, tmax, ingest, conn, idx, st, raw, stored)
        batches.append(StoredBatch(info, seq, start))
        offset += count
        start += stored
    return MessageHead(seq, first, ingest, offset - first, headers.get(H_MSG_ID, ""), batches)
