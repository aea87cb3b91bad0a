"""Where a lake lives in JetStream, and how a record batch is written as a message.

A lake is a *namespace* (``lakehose`` by default; tests use one per test) on a cluster:

* partition ``p`` is the stream ``<NS>_P<p>`` (subject ``<ns>.log.p<p>``), file storage,
  ``replicas`` copies, direct get allowed (readers fetch blobs by sequence from any replica);
* the catalog is in key-value buckets ``<NS>_<name>`` (``catalog/``).

One message is one appended request (or, past ``max_payload``, one slice of it). Its
payload is the request's record batches' blobs back to back; its headers say what each
holds:

* ``Lh-Ingest``: when the writer accepted it (ns); a reader takes the maximum of it and
  the previous message's, so ingest times never go back within a partition;
* ``Lh-Batches``: JSON ``[[count, min_time, max_time, connector, index, sourcetype,
  raw_bytes, stored_bytes], ...]``.

A request larger than a message is split over ``n`` messages, each with ``Lh-Part:
k/n`` and the id ``<request id>.<k>``; their batches get offsets only once all ``n`` are
in the stream, then all together, in part order, so a request's events are contiguous
whatever other writers stored between its parts (``index.py``).

Its offsets are not in it: they follow from its place in the stream (``writer.py``). When
retention purges the head of a stream, it first records the offset of the first message
it keeps (``base.p<p>`` in the bucket ``<NS>_LOG``: ``{"seq": s, "offset": o}``), a fact
that stays true forever, so a process that starts later counts from there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import orjson

from lakehose.models import BatchInfo

H_INGEST = "Lh-Ingest"
H_BATCHES = "Lh-Batches"
H_MSG_ID = "Nats-Msg-Id"
H_PART = "Lh-Part"  # "k/n": slice k of a request split over n messages (absent when n = 1)

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


def decode_head(
    partition: int, seq: int, headers: dict[str, str] | None, first: int, after: int
) -> MessageHead | None:
    """A message's headers as a :class:`MessageHead` starting at offset ``first``, its ingest
    time no earlier than ``after``; None for a message that is not ours."""
    if not headers or H_BATCHES not in headers:
        return None
    ingest = max(int(headers[H_INGEST]), after)
    batches: list[StoredBatch] = []
    offset, start = first, 0
    for count, tmin, tmax, conn, idx, st, raw, stored in orjson.loads(headers[H_BATCHES]):
        info = BatchInfo(partition, offset, count, tmin, tmax, ingest, conn, idx, st, raw, stored)
        batches.append(StoredBatch(info, seq, start))
        offset += count
        start += stored
    return MessageHead(seq, first, ingest, offset - first, headers.get(H_MSG_ID, ""), batches)
